package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/storage/sqlite"
	"github.com/keyward/keyward/storage/storagetest"
)

func TestStore(t *testing.T) {
	t.Parallel()
	newStore := func(t *testing.T) keyward.Store {
		return open(t, filepath.Join(t.TempDir(), "keyward.db"))
	}
	storagetest.Run(t, newStore)
	storagetest.RunConcurrency(t, newStore)
}

// TestReplicas runs the concurrency checks over several stores opened on one
// file, as the CLI and a running issuer share it.
func TestReplicas(t *testing.T) {
	t.Parallel()
	storagetest.RunReplicas(t, func(t *testing.T, n int) []keyward.Store {
		path := filepath.Join(t.TempDir(), "keyward.db")
		stores := make([]keyward.Store, n)
		for i := range stores {
			stores[i] = open(t, path)
		}
		return stores
	})
}

// open opens a store on path and closes it when the test ends.
func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), sqlite.Config{Path: path})
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// rawDB opens path with the driver alone, to look under the store.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestOpenCreatesPrivateFiles(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "keyward.db")
	open(t, path)
	tests := []struct {
		path string
		want os.FileMode
	}{
		{path: dir, want: 0o700 | os.ModeDir},
		{path: path, want: 0o600},
	}
	for _, tt := range tests {
		fi, err := os.Stat(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != tt.want {
			t.Errorf("mode of %s = %v, want %v", tt.path, fi.Mode(), tt.want)
		}
	}
	var mode string
	if err := rawDB(t, path).QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v, want wal", mode, err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if fi, err := os.Stat(path + suffix); err == nil && fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("mode of %s%s = %v, want no access for group and others", path, suffix, fi.Mode())
		}
	}
}

func TestOpenConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  sqlite.Config
		want string
	}{
		{name: "no path", cfg: sqlite.Config{}, want: "Path is required"},
		{name: "negative timeout", cfg: sqlite.Config{Path: "x.db", BusyTimeout: -time.Second}, want: "negative"},
		{name: "unwritable directory", cfg: sqlite.Config{Path: "/proc/keyward/x.db"}, want: "sqlite:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := sqlite.Open(t.Context(), tt.cfg)
			if err == nil {
				_ = s.Close()
				t.Fatal("Open() succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open() error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestMigrateOnce(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keyward.db")
	// Several processes start together on a fresh file.
	const openers = 8
	var wg sync.WaitGroup
	errs := make([]error, openers)
	for i := range openers {
		wg.Go(func() {
			s, err := sqlite.Open(t.Context(), sqlite.Config{Path: path})
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent Open: %v", err)
	}
	s := open(t, path)
	if err := s.CreateUser(t.Context(), keyward.User{ID: "u", Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	var n, distinct int
	if err := rawDB(t, path).QueryRow(`SELECT count(*), count(DISTINCT version) FROM schema_migrations`).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n == 0 || n != distinct {
		t.Errorf("schema_migrations has %d rows for %d versions, want each version once", n, distinct)
	}
}

func TestReopenKeepsData(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keyward.db")
	s, err := sqlite.Open(t.Context(), sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(t.Context(), keyward.User{ID: "u", Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	u, err := open(t, path).GetUserByName(t.Context(), "alice")
	if err != nil || u.ID != "u" {
		t.Fatalf("GetUserByName after reopening = %+v, %v", u, err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keyward.db")
	s, err := sqlite.Open(t.Context(), sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := rawDB(t, path).Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	s, err = sqlite.Open(t.Context(), sqlite.Config{Path: path})
	if err == nil {
		_ = s.Close()
		t.Fatal("Open() of a database migrated by a newer version succeeded")
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open() error = %v, want it to say the schema is newer", err)
	}
}

func TestClock(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 6789, time.UTC)
	s, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "k.db"), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	if err := s.CreateUser(ctx, keyward.User{ID: "u", Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	u, err := s.GetUser(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Truncate(time.Microsecond); !u.CreatedAt.Equal(want) || !u.UpdatedAt.Equal(want) {
		t.Errorf("CreatedAt, UpdatedAt = %v, %v, want the injected clock %v", u.CreatedAt, u.UpdatedAt, want)
	}
}
