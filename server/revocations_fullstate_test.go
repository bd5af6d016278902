package server

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
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

// stateCountingLister counts the reads of the full state (one call of
// ListRevokedTokens per read) and, while block is open, holds each of
// them until it is closed.
type stateCountingLister struct {
	RevocationLister
	reads atomic.Int64
	block chan struct{}
}

func (c *stateCountingLister) ListRevokedTokens(ctx context.Context, now time.Time) ([]keyward.RevokedToken, error) {
	c.reads.Add(1)
	if c.block != nil {
		<-c.block
	}
	return c.RevocationLister.ListRevokedTokens(ctx, now)
}

// TestRevocationFullStateShared: full-state answers at one head of the log
// (since=0, a cursor past the head, the list without since) share one read
// of the store and one encoding, and a change to the log is in the next
// full state.
func TestRevocationFullStateShared(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := memory.New(memory.Config{})
		lister := &stateCountingLister{RevocationLister: store}
		s := &Server{cfg: Config{Revocations: lister}}
		revoke := func(id string) {
			t.Helper()
			now := time.Now()
			if err := store.RevokeGrant(t.Context(), keyward.RevokedGrant{Kind: keyward.GrantFamily, ID: id, RevokedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
		get := func(query string) (*httptest.ResponseRecorder, verifier.RevocationFeed) {
			t.Helper()
			rec := httptest.NewRecorder()
			if err := s.revocations(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/revocations?"+query, nil)); err != nil {
				t.Fatal(err)
			}
			var f verifier.RevocationFeed
			if err := json.Unmarshal(rec.Body.Bytes(), &f); err != nil {
				t.Fatalf("%s: %v: %s", query, err, rec.Body)
			}
			return rec, f
		}
		revoke("f1")
		rec1, f := get("since=0")
		if !f.Full || f.Cursor != "1" || len(f.Families) != 1 {
			t.Fatalf("since=0: %+v, want the full state at cursor 1", f)
		}
		rec2, _ := get("since=0")
		get("since=7")
		if n := lister.reads.Load(); n != 1 {
			t.Errorf("three full-state requests at one head read the store %d times, want 1", n)
		}
		if !bytes.Equal(rec1.Body.Bytes(), rec2.Body.Bytes()) || rec2.Header().Get("Content-Length") != rec1.Header().Get("Content-Length") {
			t.Errorf("two answers at one head differ: %s / %s", rec1.Body, rec2.Body)
		}

		revoke("f2")
		if _, f = get("since=0"); f.Cursor != "2" || len(f.Families) != 2 {
			t.Errorf("since=0 after a change: %+v, want both families at cursor 2", f)
		}
		rec3, f := get("")
		if len(f.Families) != 2 || f.Cursor != "" || f.Full || rec3.Header().Get("ETag") == "" {
			t.Errorf("the list without since: %+v, ETag %q; want both families, no cursor", f, rec3.Header().Get("ETag"))
		}
		if n := lister.reads.Load(); n != 2 {
			t.Errorf("after one change, %d reads of the store, want 2", n)
		}

		// Concurrent requests for a state not held yet share one read.
		revoke("f3")
		lister.block = make(chan struct{})
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				if _, f := get("since=0"); f.Cursor != "3" || len(f.Families) != 3 {
					t.Errorf("concurrent since=0: %+v, want three families at cursor 3", f)
				}
			})
		}
		synctest.Wait()
		close(lister.block)
		wg.Wait()
		if n := lister.reads.Load(); n != 3 {
			t.Errorf("50 concurrent full-state requests after a change: %d reads of the store in all, want 3", n)
		}

		// The request that started a shared read leaving ends neither the
		// read nor the wait of the others.
		revoke("f4")
		lister.block = make(chan struct{})
		leaving, leave := context.WithCancel(t.Context())
		left := make(chan error, 1)
		go func() {
			left <- s.revocations(httptest.NewRecorder(), httptest.NewRequestWithContext(leaving, http.MethodGet, "/revocations?since=0", nil))
		}()
		synctest.Wait()
		stayed := make(chan verifier.RevocationFeed, 1)
		go func() {
			_, f := get("since=0")
			stayed <- f
		}()
		synctest.Wait()
		leave()
		if err := <-left; !errors.Is(err, context.Canceled) {
			t.Errorf("the request that left: %v, want context.Canceled", err)
		}
		close(lister.block)
		if f := <-stayed; f.Cursor != "4" || len(f.Families) != 4 {
			t.Errorf("the request that stayed: %+v, want four families at cursor 4", f)
		}
		if n := lister.reads.Load(); n != 4 {
			t.Errorf("%d reads of the store in all, want 4", n)
		}
		lister.block = nil

		// At one head, the encoding serves for FullStateMaxAge.
		time.Sleep(FullStateMaxAge - time.Millisecond)
		get("since=0")
		if n := lister.reads.Load(); n != 4 {
			t.Errorf("within FullStateMaxAge: %d reads of the store in all, want 4", n)
		}
		time.Sleep(time.Millisecond)
		if _, f = get("since=0"); f.GeneratedAt != time.Now().Unix() {
			t.Errorf("generated_at %d, want now (%d)", f.GeneratedAt, time.Now().Unix())
		}
		if n := lister.reads.Load(); n != 5 {
			t.Errorf("past FullStateMaxAge: %d reads of the store in all, want 5", n)
		}
	})
}
