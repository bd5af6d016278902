package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/storage/memory"
	"github.com/keyward/keyward/verifier"
)

// TestRevocationWake checks that WakeRevocations answers the held
// long-polls at once, without waiting for their next re-read of the log's
// head, when the log has changed (as a replica's notification says), and
// that a wake-up without a change keeps them held: on a fake clock, 100
// held requests see a change written at 100 ms into a 250 ms recheck
// period with no time passing after the wake-up, and share one read of the
// head.
func TestRevocationWake(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := memory.New(memory.Config{})
		revoke := func(sid string) {
			now := time.Now()
			if err := store.RevokeGrant(t.Context(), keyward.RevokedGrant{Kind: keyward.GrantSession, ID: sid, RevokedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
		revoke("s0") // head 1
		counted := &countingLister{RevocationLister: store}
		s := &Server{cfg: Config{Revocations: counted}}
		type result struct {
			feed verifier.RevocationFeed
			err  error
			at   time.Time
		}
		const held = 100
		answers := make(chan result, held)
		for i := range held {
			// Each from its own client, under MaxRevocationWaitersPerClient.
			peer := netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}).String() + ":1024"
			go func() {
				rec := httptest.NewRecorder()
				err := s.revocations(rec, feedRequest(t.Context(), "since=1&wait=20", peer, ""))
				r := result{err: err, at: time.Now()}
				if err == nil {
					r.err = json.Unmarshal(rec.Body.Bytes(), &r.feed)
				}
				answers <- r
			}()
		}
		synctest.Wait()
		// Past a recheck, into the next period.
		time.Sleep(RevocationRecheck + 100*time.Millisecond)
		synctest.Wait()
		if n := s.waiters.Load(); n != held {
			t.Fatalf("waiters = %d, want %d", n, held)
		}
		// A wake-up without a change: one shared read, all still held.
		reads := counted.heads.Load()
		s.WakeRevocations()
		synctest.Wait()
		if n := s.waiters.Load(); n != held {
			t.Fatalf("waiters = %d after a wake-up without a change, want %d", n, held)
		}
		if got := counted.heads.Load() - reads; got != 1 {
			t.Errorf("a wake-up of %d held requests read the head %d times, want 1", held, got)
		}
		revoke("s1")
		woken := time.Now()
		s.WakeRevocations()
		for range held {
			r := <-answers
			if r.err != nil {
				t.Fatal(r.err)
			}
			if !r.at.Equal(woken) || len(r.feed.Sessions) != 1 || r.feed.Sessions[0].SID != "s1" {
				t.Fatalf("answered %v after the wake-up with %+v, want s1 at once", r.at.Sub(woken), r.feed)
			}
		}
	})
}

// TestWakeOnRevoke checks the in-process wake-up of keyward serve on
// SQLite: each kind of revocation written through the store WakeOnRevoke
// returns answers a held long-poll at once, not at its next re-read; a
// write that fails or changes nothing wakes nothing harmful (the poll stays
// held).
func TestWakeOnRevoke(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		write func(ctx context.Context, s keyward.Store, now time.Time) error
	}{
		{"token", func(ctx context.Context, s keyward.Store, now time.Time) error {
			return s.RevokeAccessToken(ctx, keyward.RevokedToken{JTI: "j1", ExpiresAt: now.Add(time.Hour)})
		}},
		{"grant", func(ctx context.Context, s keyward.Store, now time.Time) error {
			return s.RevokeGrant(ctx, keyward.RevokedGrant{Kind: keyward.GrantFamily, ID: "f1", ExpiresAt: now.Add(time.Hour)})
		}},
		{"user", func(ctx context.Context, s keyward.Store, now time.Time) error {
			return s.RevokeUser(ctx, keyward.UserRevocation{UserID: "u1", Before: now})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				store := memory.New(memory.Config{})
				now := time.Now()
				if err := store.RevokeGrant(t.Context(), keyward.RevokedGrant{Kind: keyward.GrantSession, ID: "s0", ExpiresAt: now.Add(time.Hour)}); err != nil {
					t.Fatal(err)
				}
				s := &Server{cfg: Config{Revocations: store}}
				wrapped := WakeOnRevoke(store, s.WakeRevocations)
				answered := make(chan time.Time, 1)
				go func() {
					rec := httptest.NewRecorder()
					if err := s.revocations(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/revocations?since=1&wait=20", nil)); err != nil {
						t.Error(err)
					}
					answered <- time.Now()
				}()
				time.Sleep(RevocationRecheck + 100*time.Millisecond)
				synctest.Wait()
				if err := wrapped.RevokeGrant(t.Context(), keyward.RevokedGrant{}); err == nil {
					t.Fatal("an invalid revocation succeeded")
				}
				synctest.Wait()
				if n := s.waiters.Load(); n != 1 {
					t.Fatalf("waiters = %d after a failed write, want 1", n)
				}
				written := time.Now()
				if err := tc.write(t.Context(), wrapped, written); err != nil {
					t.Fatal(err)
				}
				if at := <-answered; !at.Equal(written) {
					t.Errorf("answered %v after the revocation, want at once", at.Sub(written))
				}
			})
		})
	}
}
