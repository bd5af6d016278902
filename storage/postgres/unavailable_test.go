package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/pgtest"
)

// TestUnavailable stops the database server under an open store: reads and
// writes, inside a transaction or not, fail with an error wrapping
// keyward.ErrUnavailable that still carries the driver's error; once the
// server is back, the same store works again without being reopened.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	srv := pgtest.NewServer(t)
	s := open(t, srv.NewDatabase(t))
	ctx := t.Context()
	now := time.Now()
	if err := s.CreateUser(ctx, keyward.User{ID: "u1", Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRefreshToken(ctx, keyward.RefreshToken{
		Hash: []byte("r1"), FamilyID: "f1", UserID: "u1", ClientID: "c", ExpiresAt: now.Add(time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	ops := []struct {
		name string
		run  func(ctx context.Context, round int) error
	}{
		{name: "Ping", run: func(ctx context.Context, _ int) error { return s.Ping(ctx) }},
		{name: "GetUser", run: func(ctx context.Context, _ int) error { _, err := s.GetUser(ctx, "u1"); return err }},
		{name: "ListUsers", run: func(ctx context.Context, _ int) error { _, err := s.ListUsers(ctx); return err }},
		{name: "ListKeys", run: func(ctx context.Context, _ int) error { _, err := s.ListKeys(ctx); return err }},
		{name: "CreateUser", run: func(ctx context.Context, round int) error {
			return s.CreateUser(ctx, keyward.User{ID: "u-" + string(rune('a'+round)), Username: "bob-" + string(rune('a'+round))})
		}},
		{name: "UpdateUser", run: func(ctx context.Context, _ int) error {
			return s.UpdateUser(ctx, "u1", func(u *keyward.User) error { u.Roles = []string{"admin"}; return nil })
		}},
		{name: "RevokeAccessToken", run: func(ctx context.Context, _ int) error {
			return s.RevokeAccessToken(ctx, keyward.RevokedToken{JTI: "j", ExpiresAt: now.Add(time.Hour)})
		}},
		{name: "RotateRefreshToken", run: func(ctx context.Context, round int) error {
			next := keyward.RefreshToken{Hash: []byte("r" + string(rune('2'+round)))}
			_, err := s.RotateRefreshToken(ctx, []byte("r1"), next, now)
			return err
		}},
	}

	if err := srv.Halt(ctx); err != nil {
		t.Fatal(err)
	}
	resumed := false
	t.Cleanup(func() {
		if !resumed {
			_ = srv.Resume(context.Background())
		}
	})
	for _, op := range ops {
		err := op.run(ctx, 0)
		if !errors.Is(err, keyward.ErrUnavailable) {
			t.Errorf("%s with the server stopped: error = %v, want one wrapping keyward.ErrUnavailable", op.name, err)
			continue
		}
		if errors.Unwrap(err) == nil || err.Error() == keyward.ErrUnavailable.Error() {
			t.Errorf("%s with the server stopped: error = %v, want the driver's error wrapped too", op.name, err)
		}
		if got := keyward.ErrorCode(err); got != keyward.EUNAVAILABLE {
			t.Errorf("%s with the server stopped: ErrorCode = %q, want %q", op.name, got, keyward.EUNAVAILABLE)
		}
	}

	if err := srv.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	resumed = true
	for _, op := range ops {
		if err := op.run(ctx, 1); err != nil {
			t.Errorf("%s once the server is back: %v", op.name, err)
		}
	}
}
