package server

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/storage/postgres"
	"github.com/keyward/keyward/verifier"
)

// heldSignal is a store whose second read of the revocation log's head
// after arm closes held: a long-poll has read the head once when it came
// in and once at a recheck, so it is held.
type heldSignal struct {
	keyward.Store
	reads atomic.Int64
	held  chan struct{}
}

func (h *heldSignal) arm() { h.reads.Store(0) }

func (h *heldSignal) RevocationLogHead(ctx context.Context) (int64, int64, error) {
	if h.reads.Add(1) == 2 {
		close(h.held)
	}
	return h.Store.RevocationLogHead(ctx)
}

// TestRevocationNotifyAcrossReplicas runs two issuer replicas on one
// PostgreSQL database and holds a long-poll on replica B while a refresh
// token is revoked on replica A, just after B's held request has re-read
// the log's head. With B listening (postgres ListenRevocations waking
// WakeRevocations, as keyward serve wires it), the long-poll answers with
// the revocation within 1 s (in milliseconds: A's commit notifies B);
// without it, at B's next re-read (RevocationRecheck later). Both delays
// are logged; only the bound of the one with the listener is asserted.
func TestRevocationNotifyAcrossReplicas(t *testing.T) {
	t.Parallel()
	db := pgtest.NewServer(t)
	for _, listen := range []bool{true, false} {
		name := map[bool]string{true: "listening", false: "re-read only"}[listen]
		t.Run(name, func(t *testing.T) {
			dsn := db.NewDatabase(t)
			open := func() *postgres.Store {
				ps, err := postgres.Open(t.Context(), postgres.Config{DSN: dsn})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { ps.Close() })
				return ps
			}
			psA, psB := open(), open()
			signal := &heldSignal{held: make(chan struct{})}
			a := newStack(t, stackOptions{store: psA})
			b := newStack(t, stackOptions{store: psB, wrap: func(s keyward.Store) keyward.Store { signal.Store = s; return signal }})
			if listen {
				ctx, cancel := context.WithCancel(t.Context())
				ready := make(chan struct{})
				var once sync.Once
				done := make(chan error, 1)
				go func() {
					done <- psB.ListenRevocations(ctx, func() {
						once.Do(func() { close(ready) })
						b.server.WakeRevocations()
					}, nil)
				}()
				t.Cleanup(func() {
					cancel()
					if err := <-done; err != nil {
						t.Error(err)
					}
				})
				select {
				case <-ready:
				case <-time.After(10 * time.Second):
					t.Fatal("replica B is not listening after 10 s")
				}
			}
			a.addUser(t, "alice", "correct horse battery staple")
			tok := a.login(t, "alice", "correct horse battery staple")

			resp, body := b.do(t, http.MethodGet, "/revocations?since=0", "", nil, nil)
			var state verifier.RevocationFeed
			if err := json.Unmarshal(body, &state); resp.StatusCode != http.StatusOK || err != nil {
				t.Fatalf("full state from B: %d %s %v", resp.StatusCode, body, err)
			}
			type answer struct {
				feed verifier.RevocationFeed
				err  error
				at   time.Time
			}
			answered := make(chan answer, 1)
			signal.arm()
			go func() {
				var a answer
				req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, b.srv.URL+"/revocations?since="+state.Cursor+"&wait=10", nil)
				resp, err := b.srv.Client().Do(req)
				if err == nil {
					defer resp.Body.Close()
					err = json.UnmarshalRead(resp.Body, &a.feed)
				}
				a.err, a.at = err, time.Now()
				answered <- a
			}()
			select {
			case <-signal.held:
			case <-time.After(10 * time.Second):
				t.Fatal("the long-poll on B was not held within 10 s")
			}
			if resp, body := a.postForm(t, "/revoke", url.Values{"token": {tok.RefreshToken}}, nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("revoke on A: %d %s", resp.StatusCode, body)
			}
			revoked := time.Now()
			got := <-answered
			if got.err != nil {
				t.Fatal(got.err)
			}
			if len(got.feed.Families) != 1 {
				t.Fatalf("B's long-poll answered %+v, want the revoked family", got.feed)
			}
			delay := got.at.Sub(revoked)
			t.Logf("%s: a revocation on replica A answered a long-poll held on replica B after %v", name, delay)
			if listen && delay > time.Second {
				t.Errorf("B's long-poll answered %v after the revocation on A, want within 1 s", delay)
			}
		})
	}
}
