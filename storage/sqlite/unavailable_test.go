package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/storage/sqlite"
)

// TestUnavailable holds the database's write lock from another connection,
// as another process would, for longer than the store's busy timeout:
// writes, inside a transaction or not, fail with an error wrapping
// keyward.ErrUnavailable that still carries the driver's error, reads go on
// (WAL), and once the lock is released the same store writes again.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keyward.db")
	s, err := sqlite.Open(t.Context(), sqlite.Config{Path: path, BusyTimeout: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := t.Context()
	now := time.Now()
	if err := s.CreateUser(ctx, keyward.User{ID: "u1", Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	writes := []struct {
		name string
		run  func(ctx context.Context, round int) error
	}{
		{name: "CreateUser", run: func(ctx context.Context, round int) error {
			return s.CreateUser(ctx, keyward.User{ID: "u-" + string(rune('a'+round)), Username: "bob-" + string(rune('a'+round))})
		}},
		{name: "UpdateUser", run: func(ctx context.Context, _ int) error {
			return s.UpdateUser(ctx, "u1", func(u *keyward.User) error { u.Roles = []string{"admin"}; return nil })
		}},
		{name: "RevokeAccessToken", run: func(ctx context.Context, _ int) error {
			return s.RevokeAccessToken(ctx, keyward.RevokedToken{JTI: "j", ExpiresAt: now.Add(time.Hour)})
		}},
		{name: "RevokeRefreshFamily", run: func(ctx context.Context, _ int) error { return s.RevokeRefreshFamily(ctx, "f", now) }},
		{name: "DeleteExpiredRefreshTokens", run: func(ctx context.Context, _ int) error {
			_, err := s.DeleteExpiredRefreshTokens(ctx, now)
			return err
		}},
	}

	conn, err := rawDB(t, path).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	for _, w := range writes {
		err := w.run(ctx, 0)
		if !errors.Is(err, keyward.ErrUnavailable) {
			t.Errorf("%s with the write lock held elsewhere: error = %v, want one wrapping keyward.ErrUnavailable", w.name, err)
			continue
		}
		if errors.Unwrap(err) == nil || err.Error() == keyward.ErrUnavailable.Error() {
			t.Errorf("%s with the write lock held elsewhere: error = %v, want the driver's error wrapped too", w.name, err)
		}
	}
	if _, err := s.GetUser(ctx, "u1"); err != nil {
		t.Errorf("GetUser with the write lock held elsewhere: %v", err)
	}
	if _, err := conn.ExecContext(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	for _, w := range writes {
		if err := w.run(ctx, 1); err != nil {
			t.Errorf("%s once the lock is released: %v", w.name, err)
		}
	}
}
