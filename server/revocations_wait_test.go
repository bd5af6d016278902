package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/storage/memory"
	"github.com/keyward/keyward/verifier"
)

// TestRevocationLongPoll covers GET /revocations?since=C&wait=N: held until
// a change after C, answered at the end of the wait (capped at
// MaxRevocationWait) without one, at once when changes already wait, when
// the cursor asks for the full state or when MaxRevocationWaiters are held.
func TestRevocationLongPoll(t *testing.T) {
	t.Parallel()
	type result struct {
		feed    verifier.RevocationFeed
		err     error
		elapsed time.Duration
	}
	// start runs one request in the bubble; its result arrives on the
	// channel once answered.
	start := func(t *testing.T, s *Server, query string) <-chan result {
		t.Helper()
		ch := make(chan result, 1)
		go func() {
			begin := time.Now()
			rec := httptest.NewRecorder()
			req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/revocations?"+query, nil)
			err := s.revocations(rec, req)
			res := result{err: err, elapsed: time.Since(begin)}
			if err == nil {
				if err := json.Unmarshal(rec.Body.Bytes(), &res.feed); err != nil {
					res.err = err
				}
			}
			ch <- res
		}()
		return ch
	}
	revoke := func(t *testing.T, store *memory.Store, sid string) {
		t.Helper()
		now := time.Now()
		if err := store.RevokeGrant(t.Context(), keyward.RevokedGrant{Kind: keyward.GrantSession, ID: sid, RevokedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	setup := func(t *testing.T) (*Server, *memory.Store) {
		t.Helper()
		store := memory.New(memory.Config{})
		revoke(t, store, "s0") // head 1
		return &Server{cfg: Config{Revocations: store}}, store
	}

	t.Run("change wakes", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			s, store := setup(t)
			ch := start(t, s, "since=1&wait=20")
			time.Sleep(5 * time.Second)
			synctest.Wait()
			select {
			case r := <-ch:
				t.Fatalf("answered after %v without a change: %+v", r.elapsed, r)
			default:
			}
			if n := s.waiters.Load(); n != 1 {
				t.Errorf("waiters = %d, want 1", n)
			}
			revoke(t, store, "s1")
			r := <-ch
			if r.err != nil {
				t.Fatal(r.err)
			}
			if len(r.feed.Sessions) != 1 || r.feed.Sessions[0].SID != "s1" || r.feed.Cursor != "2" {
				t.Errorf("feed = %+v, want s1 at cursor 2", r.feed)
			}
			if max := 5*time.Second + RevocationRecheck; r.elapsed > max {
				t.Errorf("answered after %v, want at most %v", r.elapsed, max)
			}
			if n := s.waiters.Load(); n != 0 {
				t.Errorf("waiters = %d after the answer, want 0", n)
			}
		})
	})
	t.Run("wait ends", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			query string
			want  time.Duration
		}{
			{"since=1&wait=3", 3 * time.Second},
			{"since=1&wait=1000", MaxRevocationWait * time.Second},
			{"since=1&wait=0", 0},
		} {
			synctest.Test(t, func(t *testing.T) {
				s, _ := setup(t)
				r := <-start(t, s, tc.query)
				if r.err != nil {
					t.Fatal(r.err)
				}
				if r.elapsed != tc.want || r.feed.Cursor != "1" || r.feed.Full || len(r.feed.Sessions) != 0 {
					t.Errorf("%s: after %v: %+v; want no change after %v", tc.query, r.elapsed, r.feed, tc.want)
				}
			})
		}
	})
	t.Run("at once", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name, query string
			full        bool
			busy        bool
		}{
			{"full state", "since=0&wait=20", true, false},
			{"unknown cursor", "since=9&wait=20", true, false},
			{"waiters full", "since=1&wait=20", false, true},
		} {
			synctest.Test(t, func(t *testing.T) {
				s, _ := setup(t)
				if tc.busy {
					s.waiters.Store(MaxRevocationWaiters)
				}
				r := <-start(t, s, tc.query)
				if r.err != nil {
					t.Fatal(r.err)
				}
				if r.elapsed != 0 || r.feed.Full != tc.full {
					t.Errorf("%s: after %v: %+v; want at once, full %v", tc.name, r.elapsed, r.feed, tc.full)
				}
			})
		}
	})
	t.Run("client leaves", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			s, _ := setup(t)
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan *httptest.ResponseRecorder)
			go func() {
				rec := httptest.NewRecorder()
				if err := s.revocations(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, "/revocations?since=1&wait=20", nil)); err != nil {
					t.Error(err)
				}
				done <- rec
			}()
			time.Sleep(time.Second)
			cancel()
			rec := <-done
			var f verifier.RevocationFeed
			if err := json.Unmarshal(rec.Body.Bytes(), &f); err != nil || f.Cursor != "1" || f.Full {
				t.Errorf("after the client left: %v %s; want no change at cursor 1", err, rec.Body)
			}
			if n := s.waiters.Load(); n != 0 {
				t.Errorf("waiters = %d, want 0", n)
			}
		})
	})
	t.Run("bad wait", func(t *testing.T) {
		t.Parallel()
		for _, q := range []string{"wait=5", "since=1&wait=-1", "since=1&wait=x", "since=1&wait=1&wait=2", "since=1&wait="} {
			s, _ := setup(t)
			rec := httptest.NewRecorder()
			err := s.revocations(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/revocations?"+q, nil))
			if !errors.Is(err, errBadWait) {
				t.Errorf("%s: %v, want errBadWait", q, err)
			}
		}
	})
}

// countingLister counts the reads of the revocation log's head.
type countingLister struct {
	RevocationLister
	heads atomic.Int64
}

func (c *countingLister) RevocationLogHead(ctx context.Context) (int64, int64, error) {
	c.heads.Add(1)
	return c.RevocationLister.RevocationLogHead(ctx)
}

// TestRevocationLongPollSharedReads: the long-polls a server holds share
// their reads of the log's head, so 200 of them held 10 s cost the store
// about one read per half RevocationRecheck, not one each per
// RevocationRecheck, and all wake at the change.
func TestRevocationLongPollSharedReads(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := memory.New(memory.Config{})
		lister := &countingLister{RevocationLister: store}
		s := &Server{cfg: Config{Revocations: lister}}
		const n = 200
		var answered sync.WaitGroup
		for i := range n {
			// Each from its own client, under MaxRevocationWaitersPerClient.
			peer := netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}).String() + ":1024"
			answered.Go(func() {
				rec := httptest.NewRecorder()
				if err := s.revocations(rec, feedRequest(t.Context(), "since=0&wait=25", peer, "")); err != nil {
					t.Error(err)
				}
			})
		}
		synctest.Wait()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if got := s.waiters.Load(); got != n {
			t.Fatalf("%d held, want %d", got, n)
		}
		// n initial reads, then one per half recheck.
		if reads, max := lister.heads.Load(), int64(n)+int64(10*time.Second/(RevocationRecheck/2))+1; reads > max {
			t.Errorf("%d reads of the head for %d long-polls held 10 s, want at most %d", reads, n, max)
		}
		now := time.Now()
		if err := store.RevokeGrant(t.Context(), keyward.RevokedGrant{Kind: keyward.GrantFamily, ID: "f", RevokedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		answered.Wait()
		if d := time.Since(now); d > RevocationRecheck*3/2 {
			t.Errorf("woken after %v, want at most %v", d, RevocationRecheck*3/2)
		}
	})
}
