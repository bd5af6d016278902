// Package sqlite is the embedded [keyward.Store]: one SQLite database file,
// through the pure-Go modernc.org/sqlite driver, for a single issuer process.
//
// The database runs in WAL mode with foreign keys on and a busy timeout. All
// writes go through one connection and begin with BEGIN IMMEDIATE, so writers
// in this process queue up instead of failing with SQLITE_BUSY, and writers in
// other processes (the CLI next to a running issuer) wait for the lock for up
// to the busy timeout. Reads use a separate pool of read-only connections and
// never wait for writers. A database that cannot be used now (its lock held
// by another process beyond the busy timeout, an I/O error, a full disk, a
// file that cannot be opened) makes every method fail with an error
// wrapping [keyward.ErrUnavailable]. The schema is created and upgraded by
// embedded, versioned migrations recorded in the schema_migrations table.
//
// It owns the SQLite schema and its statements; the domain rules it applies
// are package keyward's, and what it shares with storage/postgres below the
// domain (column lists, JSON columns, the key-set update plan) is
// storage/internal/sqlstore's. It never imports another backend, the
// issuer or the server.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/keyward/keyward"
)

var _ keyward.Store = (*Store)(nil)

// Config configures [Open].
type Config struct {
	// Path is the database file. It is created with mode 0600, in a
	// directory created with mode 0700, when it does not exist. Required.
	Path string
	// Now is the clock used for the timestamps the store sets itself
	// (CreatedAt, UpdatedAt, ...). Zero means time.Now.
	Now func() time.Time
	// BusyTimeout is how long a write waits for a lock held by another
	// process before failing. Zero means 10 seconds.
	BusyTimeout time.Duration
	// MaxReaders bounds the read-only connections. Zero means 4.
	MaxReaders int
}

// Store is a [keyward.Store] on a SQLite database. Create one with [Open].
type Store struct {
	now func() time.Time
	w   db // the single writer connection
	r   db // read-only connections
}

// Open opens the database at cfg.Path, creating it if needed, and brings its
// schema up to date.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Path == "" {
		return nil, errors.New("sqlite: Config.Path is required")
	}
	if cfg.BusyTimeout < 0 || cfg.MaxReaders < 0 {
		return nil, errors.New("sqlite: negative BusyTimeout or MaxReaders")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.BusyTimeout == 0 {
		cfg.BusyTimeout = 10 * time.Second
	}
	if cfg.MaxReaders == 0 {
		cfg.MaxReaders = 4
	}
	path, err := filepath.Abs(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := createFile(path); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}

	busy := strconv.FormatInt(cfg.BusyTimeout.Milliseconds(), 10)
	w, err := openDB(path, url.Values{
		"_pragma": {"busy_timeout(" + busy + ")", "journal_mode(WAL)", "synchronous(NORMAL)", "foreign_keys(1)"},
		"_txlock": {"immediate"},
	})
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &Store{now: cfg.Now, w: db{w}}
	if err := s.migrate(ctx); err != nil {
		_ = w.Close()
		return nil, err
	}

	r, err := openDB(path, url.Values{
		"_pragma":     {"busy_timeout(" + busy + ")", "foreign_keys(1)"},
		"_query_only": {"1"},
	})
	if err != nil {
		_ = w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(cfg.MaxReaders)
	r.SetMaxIdleConns(cfg.MaxReaders)
	if err := r.PingContext(ctx); err != nil {
		_ = w.Close()
		_ = r.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, unavailable(err))
	}
	s.r = db{r}
	return s, nil
}

// createFile creates path with mode 0600 unless it exists, and its directory
// with mode 0700.
func createFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// openDB opens a pool on the file with the given driver parameters.
func openDB(path string, params url.Values) (*sql.DB, error) {
	dsn := (&url.URL{Scheme: "file", Path: path, RawQuery: params.Encode()}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return db, nil
}

// Ping implements [keyward.Store].
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.r.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Close implements [keyward.Store]. It checkpoints the WAL into the database
// file.
func (s *Store) Close() error {
	return errors.Join(s.r.db.Close(), s.w.db.Close())
}

// querier is what [db] and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface {
	Scan(dest ...any) error
}

// write runs fn in a write transaction (BEGIN IMMEDIATE on the writer
// connection) and commits when it returns nil. An error that says the
// database cannot be used now, at BEGIN, in fn or at COMMIT, comes out
// wrapping keyward.ErrUnavailable (see [unavailable]).
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", unavailable(err))
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return unavailable(err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", unavailable(err))
	}
	return nil
}

// clock returns the store's current time.
func (s *Store) clock() time.Time { return keyward.StoredTime(s.now()) }

// isUnique reports whether err is a uniqueness violation.
func isUnique(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return true
	}
	return false
}

// notFound maps sql.ErrNoRows to keyward.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return keyward.ErrNotFound
	}
	return err
}

// micros encodes a time for a NOT NULL column.
func micros(t time.Time) int64 { return t.UnixMicro() }

// optMicros encodes a time for a nullable column: the zero time is NULL.
func optMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// usec scans a time column (microseconds or NULL) into *t.
type usec struct{ t *time.Time }

// Scan implements [sql.Scanner].
func (u usec) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*u.t = time.Time{}
	case int64:
		*u.t = time.UnixMicro(v).UTC()
	default:
		return fmt.Errorf("time column holds %T", v)
	}
	return nil
}

// blob scans a nullable BLOB column; empty comes back nil.
type blob struct{ b *[]byte }

// Scan implements [sql.Scanner].
func (b blob) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*b.b = nil
	case []byte:
		if len(v) == 0 {
			*b.b = nil
		} else {
			*b.b = append([]byte(nil), v...)
		}
	case string:
		*b.b = []byte(v)
	default:
		return fmt.Errorf("blob column holds %T", v)
	}
	return nil
}

// optBlob encodes a nullable BLOB column: empty is NULL.
func optBlob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
