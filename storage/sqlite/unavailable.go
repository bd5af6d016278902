package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/keyward/keyward/storage/internal/sqlstore"
)

// unavailable wraps err with [keyward.ErrUnavailable] when it says that the
// database cannot be used now, keeping the driver's error in the chain for
// the log; it returns any other error unchanged. It is the backend's one
// edge for such failures: [db] applies it to the statements run outside a
// transaction, [collect] to the rows they return, and [Store.write] to
// transactions.
func unavailable(err error) error { return sqlstore.Unavailable(err, unreachable) }

// unreachable reports whether err is one of the SQLite failures that say
// nothing about the request and may clear by themselves or by an
// operator's hand, so that the same request can succeed later:
//   - SQLITE_BUSY: another process (the CLI beside a running issuer, a
//     backup) held the database's lock for longer than the busy timeout;
//   - SQLITE_LOCKED: a table is locked by another connection;
//   - SQLITE_IOERR: the operating system failed a read, a write or a sync
//     (a failing disk, a lost network file system);
//   - SQLITE_FULL: the disk is full;
//   - SQLITE_CANTOPEN: the database file, its journal or its directory
//     cannot be opened (removed, or its permissions changed).
//
// A corrupt database, a constraint violation or a malformed statement are
// not such failures: retrying them would fail the same way.
func unreachable(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff { // the primary result code of an extended one
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN:
		return true
	}
	return false
}

// db runs statements on a pool outside any transaction and passes every
// error they return through [unavailable].
type db struct{ db *sql.DB }

// ExecContext implements [querier].
func (d db) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	res, err := d.db.ExecContext(ctx, query, args...)
	return res, unavailable(err)
}

// QueryContext implements [querier]; read the rows with [collect], which
// maps the errors of their iteration.
func (d db) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	rows, err := d.db.QueryContext(ctx, query, args...)
	return rows, unavailable(err)
}

// QueryRowContext runs a query expected to return at most one row.
func (d db) QueryRowContext(ctx context.Context, query string, args ...any) scanner {
	return mappedRow{d.db.QueryRowContext(ctx, query, args...)}
}

// mappedRow is a row whose Scan error goes through [unavailable].
type mappedRow struct{ row *sql.Row }

// Scan implements [scanner].
func (r mappedRow) Scan(dest ...any) error { return unavailable(r.row.Scan(dest...)) }

// collect reads every row with scan and closes rows; its errors, and those
// of the iteration, go through [unavailable].
func collect[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, unavailable(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(err)
	}
	return out, nil
}
