package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keyward/keyward/storage/internal/sqlstore"
)

// unavailable wraps err with [keyward.ErrUnavailable] when it says that the
// database cannot be reached now, keeping the driver's error in the chain
// for the log; it returns any other error unchanged. It is the backend's one
// edge for such failures: [db] applies it to the statements run on the pool
// and [Store.tx] to transactions.
func unavailable(err error) error { return sqlstore.Unavailable(err, unreachable) }

// unreachable reports whether err is a connection-level failure: the pool
// could not connect (refused, timed out, the server starting up or shutting
// down), the connection broke (reset, closed, cut short), or the server
// ended the session (SQLSTATE class 08, and 57P01–57P03: administrator,
// crash or cannot-connect-now shutdowns). A statement the server refused,
// the caller's own cancellation and its deadline are not such failures.
func unreachable(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	switch code := pgCode(err); {
	case strings.HasPrefix(code, "08"), code == "57P01", code == "57P02", code == "57P03":
		return true
	case code != "":
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// db runs statements on the pool outside any transaction and passes every
// error they return through [unavailable].
type db struct{ pool *pgxpool.Pool }

var _ querier = db{}

// Exec implements [querier].
func (d db) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	tag, err := d.pool.Exec(ctx, sql, args...)
	return tag, unavailable(err)
}

// Query implements [querier]; the rows it returns map the error of their
// iteration too.
func (d db) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rows, err := d.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, unavailable(err)
	}
	return mappedRows{rows}, nil
}

// QueryRow implements [querier].
func (d db) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return mappedRow{d.pool.QueryRow(ctx, sql, args...)}
}

// mappedRow is a [pgx.Row] whose Scan error goes through [unavailable].
type mappedRow struct{ row pgx.Row }

// Scan implements [pgx.Row].
func (r mappedRow) Scan(dest ...any) error { return unavailable(r.row.Scan(dest...)) }

// mappedRows is a [pgx.Rows] whose Err goes through [unavailable].
type mappedRows struct{ pgx.Rows }

// Err implements [pgx.Rows].
func (r mappedRows) Err() error { return unavailable(r.Rows.Err()) }
