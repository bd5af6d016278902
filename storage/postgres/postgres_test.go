package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/storage/postgres"
	"github.com/keyward/keyward/storage/storagetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestStore(t *testing.T) {
	t.Parallel()
	newStore := func(t *testing.T) keyward.Store { return open(t, pgtest.DSN(t)) }
	storagetest.Run(t, newStore)
	storagetest.RunConcurrency(t, newStore)
}

func TestReplicas(t *testing.T) {
	t.Parallel()
	storagetest.RunReplicas(t, func(t *testing.T, n int) []keyward.Store {
		dsn := pgtest.DSN(t)
		stores := make([]keyward.Store, n)
		for i := range stores {
			stores[i] = open(t, dsn)
		}
		return stores
	})
}

// open opens a store on dsn and closes it when the test ends.
func open(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), postgres.Config{DSN: dsn})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// envMigrateDSN passes a DSN to the helper processes of TestMigrateOnce.
const envMigrateDSN = "KEYWARD_TEST_MIGRATE_DSN"

// TestMigrateHelperProcess is not a test: TestMigrateOnce runs the test
// binary with it to open a store from another process.
func TestMigrateHelperProcess(t *testing.T) {
	dsn := os.Getenv(envMigrateDSN)
	if dsn == "" {
		t.Skip("helper process for TestMigrateOnce")
	}
	s, err := postgres.Open(t.Context(), postgres.Config{DSN: dsn})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	_ = s.Close()
}

// TestMigrateOnce starts several processes, and several stores in this one,
// on a fresh database at once: all of them open it and the schema is
// migrated once.
func TestMigrateOnce(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	const processes, stores = 3, 3
	var wg sync.WaitGroup
	errs := make([]error, processes+stores)
	for i := range processes {
		wg.Go(func() {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestMigrateHelperProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), envMigrateDSN+"="+dsn)
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("helper process: %w\n%s", err, out)
			}
		})
	}
	for i := range stores {
		wg.Go(func() {
			s, err := postgres.Open(t.Context(), postgres.Config{DSN: dsn})
			if err == nil {
				err = s.Close()
			}
			errs[processes+i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	conn := connect(t, dsn)
	var n, distinct int
	if err := conn.QueryRow(t.Context(), `SELECT count(*), count(DISTINCT version) FROM schema_migrations`).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n == 0 || n != distinct {
		t.Errorf("schema_migrations has %d rows for %d versions, want each version once", n, distinct)
	}
	if err := open(t, dsn).CreateUser(t.Context(), keyward.User{ID: "u", Username: "alice"}); err != nil {
		t.Errorf("CreateUser on the migrated database: %v", err)
	}
}

// connect opens a plain connection to dsn.
func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func TestNewerSchemaRefused(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	open(t, dsn)
	if _, err := connect(t, dsn).Exec(t.Context(), `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', now())`); err != nil {
		t.Fatal(err)
	}
	s, err := postgres.Open(t.Context(), postgres.Config{DSN: dsn})
	if err == nil {
		_ = s.Close()
		t.Fatal("Open() of a database migrated by a newer version succeeded")
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open() error = %v, want it to say the schema is newer", err)
	}
}

func TestOpenConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     postgres.Config
		want    string
		private string
	}{
		{name: "no DSN", cfg: postgres.Config{}, want: "DSN is required"},
		{name: "negative MaxConns", cfg: postgres.Config{DSN: "postgres://localhost/x", MaxConns: -1}, want: "negative"},
		{name: "bad DSN", cfg: postgres.Config{DSN: "postgres://u:s3cr3t@localhost:notaport/x"}, want: "invalid DSN", private: "s3cr3t"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := postgres.Open(t.Context(), tt.cfg)
			if err == nil {
				_ = s.Close()
				t.Fatal("Open() succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open() error = %v, want it to mention %q", err, tt.want)
			}
			if tt.private != "" && strings.Contains(err.Error(), tt.private) {
				t.Errorf("Open() error = %v reveals the password", err)
			}
		})
	}
}

func TestClock(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 6789, time.UTC)
	s, err := postgres.Open(t.Context(), postgres.Config{DSN: pgtest.DSN(t), Now: func() time.Time { return now }, MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.CreateUser(t.Context(), keyward.User{ID: "u", Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	u, err := s.GetUser(t.Context(), "u")
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Truncate(time.Microsecond); !u.CreatedAt.Equal(want) || !u.UpdatedAt.Equal(want) {
		t.Errorf("CreatedAt, UpdatedAt = %v, %v, want the injected clock %v", u.CreatedAt, u.UpdatedAt, want)
	}
}
