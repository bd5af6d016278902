package server

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/verifier"
)

// TestRevocationLongPollFairShare: when the server holds
// MaxRevocationWaiters long-polls, a network holding fewer than the others
// still gets one held, taken from a network holding at least two more,
// whose long-poll is answered with no change at once; the preempted
// network's next long-poll is answered at once, and so is a new network's
// once every network holds one (no network then holds two more).
func TestRevocationLongPollFairShare(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// hogs is how many networks fill the server, each holding
		// MaxRevocationWaiters/hogs long-polls.
		hogs int
		// held says whether a new network's long-poll is held.
		held bool
	}{
		{name: "64 networks of 64", hogs: MaxRevocationWaitersPerClient, held: true},
		{name: "2048 networks of 2", hogs: MaxRevocationWaiters / 2, held: true},
		{name: "4096 networks of 1", hogs: MaxRevocationWaiters, held: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				store := feedStore(t)
				var logs bytes.Buffer
				s := &Server{cfg: Config{Revocations: store}, log: slog.New(slog.NewTextHandler(&logs, nil))}
				hogCtx, stopHogs := context.WithCancel(t.Context())
				var (
					hogs     sync.WaitGroup
					answered atomic.Int64 // hogs' long-polls answered before the change
					changed  atomic.Bool  // set before the change
					mu       sync.Mutex
					early    []string // the networks of those
				)
				hogNetwork := func(i int) string {
					return "10." + strconv.Itoa(i/65536) + "." + strconv.Itoa(i/256%256) + "." + strconv.Itoa(i%256)
				}
				for i := range MaxRevocationWaiters {
					network := hogNetwork(i % tt.hogs)
					hogs.Go(func() {
						rec := httptest.NewRecorder()
						if err := s.revocations(rec, feedRequest(hogCtx, "since=1&wait=25", network+":"+strconv.Itoa(1024+i), "")); err != nil {
							t.Error(err)
						}
						if hogCtx.Err() == nil && !changed.Load() {
							answered.Add(1)
							mu.Lock()
							early = append(early, network)
							mu.Unlock()
							var f verifier.RevocationFeed
							if err := json.Unmarshal(rec.Body.Bytes(), &f); err != nil || f.Cursor != "1" || f.Full || len(f.Sessions) != 0 {
								t.Errorf("a preempted long-poll got %s, %v; want no change", rec.Body, err)
							}
						}
					})
				}
				synctest.Wait()
				if n := s.waiters.Load(); n != MaxRevocationWaiters {
					t.Fatalf("%d held, want %d", n, MaxRevocationWaiters)
				}

				got := make(chan verifier.RevocationFeed, 1)
				go func() {
					rec := httptest.NewRecorder()
					if err := s.revocations(rec, feedRequest(t.Context(), "since=1&wait=20", "198.51.100.7:1024", "")); err != nil {
						t.Error(err)
					}
					var f verifier.RevocationFeed
					if err := json.Unmarshal(rec.Body.Bytes(), &f); err != nil {
						t.Error(err)
					}
					got <- f
				}()
				synctest.Wait()
				select {
				case f := <-got:
					if tt.held {
						t.Fatalf("the new network's long-poll was answered at once (%+v): not held", f)
					}
				default:
					if !tt.held {
						t.Fatal("the new network's long-poll was held while every network held one")
					}
				}
				wantEarly := int64(0)
				if tt.held {
					wantEarly = 1
				}
				if n, w := answered.Load(), s.waiters.Load(); n != wantEarly || w != MaxRevocationWaiters {
					t.Fatalf("%d hogs' long-polls answered, %d held; want %d and %d", n, w, wantEarly, MaxRevocationWaiters)
				}
				if tt.held {
					if !strings.Contains(logs.String(), "reason=preempted client_network="+early[0]) {
						t.Errorf("logs %q lack the preemption of %s", logs.String(), early[0])
					}
					// The preempted network asks again: answered at once.
					begin := time.Now()
					if err := s.revocations(httptest.NewRecorder(), feedRequest(t.Context(), "since=1&wait=25", early[0]+":9", "")); err != nil {
						t.Fatal(err)
					}
					if d := time.Since(begin); d != 0 || answered.Load() != 1 {
						t.Errorf("the preempted network's next long-poll: answered after %v, %d hogs answered; want at once, 1", d, answered.Load())
					}
					// The new network's long-poll is woken by a change.
					begin = time.Now()
					changed.Store(true)
					if err := store.RevokeGrant(t.Context(), keyward.RevokedGrant{Kind: keyward.GrantSession, ID: "s1", RevokedAt: begin, ExpiresAt: begin.Add(time.Hour)}); err != nil {
						t.Fatal(err)
					}
					f := <-got
					if d := time.Since(begin); d > RevocationRecheck || len(f.Sessions) != 1 {
						t.Errorf("the new network got %+v after %v, want session s1 within %v", f, d, RevocationRecheck)
					}
				}
				stopHogs()
				hogs.Wait()
				s.holds.mu.Lock()
				defer s.holds.mu.Unlock()
				if n := s.waiters.Load(); n != 0 || len(s.holds.byClient) != 0 {
					t.Errorf("after the answers: %d held, %d networks counted; want none", n, len(s.holds.byClient))
				}
			})
		})
	}
}
