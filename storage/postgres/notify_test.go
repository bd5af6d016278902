package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/pgtest"
)

// notifyTimeout bounds each wait of TestListenRevocations for a wake-up;
// a notification arrives in milliseconds.
const notifyTimeout = 10 * time.Second

// TestListenRevocations runs two stores on one database, as two replicas:
// a revocation committed through one wakes the listener of the other,
// each kind of write; a rolled-back one does not matter (it appends
// nothing); and when the listening connection is killed the listener
// reports it, reconnects, wakes once (changes made meanwhile were not
// notified) and is woken by the next revocation.
func TestListenRevocations(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	a, b := open(t, dsn), open(t, dsn)
	ctx, cancel := context.WithCancel(t.Context())
	wakes := make(chan struct{}, 100)
	var mu sync.Mutex
	var lost []error
	done := make(chan error, 1)
	go func() {
		done <- b.ListenRevocations(ctx, func() { wakes <- struct{}{} }, func(err error) {
			mu.Lock()
			defer mu.Unlock()
			lost = append(lost, err)
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ListenRevocations after its context ended: %v", err)
		}
	}()
	wake := func(what string) {
		t.Helper()
		select {
		case <-wakes:
		case <-time.After(notifyTimeout):
			t.Fatalf("%s: no wake-up within %v", what, notifyTimeout)
		}
	}
	drain := func() {
		for {
			select {
			case <-wakes:
			default:
				return
			}
		}
	}
	wake("listening")
	now := time.Now()
	for _, w := range []struct {
		name  string
		write func() error
	}{
		{"token", func() error {
			return a.RevokeAccessToken(t.Context(), keyward.RevokedToken{JTI: "j-1", ExpiresAt: now.Add(time.Hour)})
		}},
		{"grant", func() error {
			return a.RevokeGrant(t.Context(), keyward.RevokedGrant{Kind: keyward.GrantFamily, ID: "f-1", ExpiresAt: now.Add(time.Hour)})
		}},
		{"user", func() error { return a.RevokeUser(t.Context(), keyward.UserRevocation{UserID: "u-1", Before: now}) }},
	} {
		begin := time.Now()
		if err := w.write(); err != nil {
			t.Fatal(err)
		}
		wake("a " + w.name + " revoked on the other store")
		t.Logf("a %s revoked on A woke B's listener after %v", w.name, time.Since(begin))
	}

	// Kill the listening connection: the listener reconnects and wakes.
	drain()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var killed int
	if err := conn.QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query = 'LISTEN keyward_revocations'`).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed != 1 {
		t.Fatalf("%d listening connections killed, want 1", killed)
	}
	wake("reconnected")
	mu.Lock()
	n := len(lost)
	mu.Unlock()
	if n == 0 {
		t.Error("the lost connection was not reported")
	}
	drain()
	if err := a.RevokeGrant(t.Context(), keyward.RevokedGrant{Kind: keyward.GrantSession, ID: "s-1", ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	wake("a revocation after the reconnection")
}
