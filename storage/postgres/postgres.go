// Package postgres is the [keyward.Store] for several issuer replicas sharing
// one PostgreSQL database, through pgx and its connection pool.
//
// Every operation that must not interleave with another replica's is one
// statement or one transaction: a refresh-token rotation is a single
// conditional UPDATE followed by the INSERT of its successor, so two replicas
// racing on one token give one winner; UpdateKeys holds a transaction-level
// advisory lock, so one replica rotates the signing keys. Transactions that
// fail with a serialization failure or a deadlock (SQLSTATE 40001, 40P01) are
// retried a bounded number of times. A connection-level failure (the pool
// cannot connect, the connection breaks, the server shuts down: SQLSTATE
// class 08 and 57P01–57P03) comes out of every method wrapping
// [keyward.ErrUnavailable]; the pool reconnects by itself once the server is
// back. The schema is created and upgraded by embedded, versioned migrations
// run under a session advisory lock, so replicas starting together migrate
// once.
//
// It owns the PostgreSQL schema and its statements; the domain rules it
// applies are package keyward's, and what it shares with storage/sqlite
// below the domain (column lists, JSON columns, the key-set update plan) is
// storage/internal/sqlstore's. It never imports another backend, the issuer
// or the server.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keyward/keyward"
)

var _ keyward.Store = (*Store)(nil)

// Advisory lock keys, in the database's advisory-lock space.
const (
	migrationLock = 0x6b65797761726400 // "keyward\0": schema migrations
	keysLock      = 0x6b65797761726401 // "keyward\1": UpdateKeys
)

// familyLockClass is the first key of the transaction-level advisory locks
// taken on a refresh-token family (the second is the hash of its ID), in
// the two-key space, which is apart from the one-key space of the locks
// above: "keyw".
const familyLockClass int32 = 0x6b657977

// maxAttempts bounds how many times a transaction is tried when it fails with
// a serialization failure or a deadlock.
const maxAttempts = 5

// Config configures [Open].
type Config struct {
	// DSN is the connection string, in URL or keyword/value form
	// ("postgres://keyward@db:5432/keyward?sslmode=verify-full"). Required.
	DSN string
	// Now is the clock used for the timestamps the store sets itself
	// (CreatedAt, UpdatedAt, ...). Zero means time.Now.
	Now func() time.Time
	// MaxConns bounds the pool's connections. Zero means pgxpool's default
	// (the greater of 4 and the number of CPUs), or pool_max_conns in DSN.
	MaxConns int32
}

// Store is a [keyward.Store] on a PostgreSQL database. Create one with [Open].
type Store struct {
	now  func() time.Time
	pool *pgxpool.Pool
	db   db // the pool, with connection failures mapped to keyward.ErrUnavailable
}

// Open connects to the database and brings its schema up to date.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.DSN == "" {
		return nil, errors.New("postgres: Config.DSN is required")
	}
	if cfg.MaxConns < 0 {
		return nil, errors.New("postgres: negative MaxConns")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	pc, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		// The error may quote the DSN and its password: keep only the category.
		return nil, errors.New("postgres: invalid DSN")
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{now: cfg.Now, pool: pool, db: db{pool}}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, unavailable(err)
	}
	return s, nil
}

// Ping implements [keyward.Store].
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", unavailable(err))
	}
	return nil
}

// Close implements [keyward.Store]; it waits for the connections in use to be
// returned to the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// querier is what the pool, a connection and a transaction have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// tx runs fn in a transaction and commits when it returns nil. It retries the
// whole transaction, fn included, on a serialization failure or a deadlock.
// A connection failure, at BEGIN, in fn or at COMMIT, comes out wrapping
// keyward.ErrUnavailable (see [unavailable]) and is not retried: the pool
// has no connection to retry on.
func (s *Store) tx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	backoff := 5 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := unavailable(pgx.BeginFunc(ctx, s.pool, fn))
		if attempt == maxAttempts || !retryable(err) {
			return err
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
		backoff *= 2
	}
}

// pgCode returns the SQLSTATE of err, or "".
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// retryable reports whether err is a serialization failure or a deadlock.
func retryable(err error) bool {
	switch pgCode(err) {
	case "40001", "40P01":
		return true
	}
	return false
}

// isUnique reports whether err is a unique violation.
func isUnique(err error) bool { return pgCode(err) == "23505" }

// notFound maps pgx.ErrNoRows to keyward.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return keyward.ErrNotFound
	}
	return err
}

// clock returns the store's current time.
func (s *Store) clock() time.Time { return keyward.StoredTime(s.now()) }

// opt encodes a time for a nullable column: the zero time is NULL.
func opt(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return keyward.StoredTime(t)
}

// tsz scans a timestamptz column (NULL is the zero time) into *t, in UTC.
type tsz struct{ t *time.Time }

// ScanTimestamptz implements [pgtype.TimestamptzScanner].
func (d tsz) ScanTimestamptz(v pgtype.Timestamptz) error {
	switch {
	case !v.Valid:
		*d.t = time.Time{}
	case v.InfinityModifier != pgtype.Finite:
		return errors.New("infinite timestamp")
	default:
		*d.t = v.Time.UTC()
	}
	return nil
}

// bytea scans a nullable bytea column; empty comes back nil.
type bytea struct{ b *[]byte }

// ScanBytes implements [pgtype.BytesScanner].
func (d bytea) ScanBytes(v []byte) error {
	if len(v) == 0 {
		*d.b = nil
	} else {
		*d.b = append([]byte(nil), v...)
	}
	return nil
}

// optBytes encodes a nullable bytea column: empty is NULL.
func optBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
