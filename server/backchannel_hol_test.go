package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/issuer"
	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/storage/memory"
)

// TestBackchannelHangingRelyingPartyHoldsNoOne queues forty logouts for a
// relying party that never answers, then one for another relying party,
// and checks that the other's logout is delivered within one attempt's
// timeout and a poll, not after the hanging party's whole backlog has
// timed out four at a time; and that the hanging party's logouts still
// each get their attempts before they are given up.
func TestBackchannelHangingRelyingPartyHoldsNoOne(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		store := memory.New(memory.Config{})
		km, err := issuer.NewKeyManager(issuer.KeyManagerConfig{Store: store, Sealer: mustSealer(t), Alg: jose.ES256, JWKSMaxAge: time.Minute})
		must(err)
		must(km.Step(ctx))
		iss, err := issuer.New(issuer.Config{Store: store, Keys: km, Issuer: "https://issuer.test", Password: issuer.PasswordParams{Memory: 64, Time: 1, Threads: 1}})
		must(err)
		ended := time.Now()
		must(store.CreateClient(ctx, keyward.Client{ID: "hanging", BackchannelLogoutURI: "https://hanging.test/bc"}))
		must(store.CreateClient(ctx, keyward.Client{ID: "other", BackchannelLogoutURI: "https://other.test/bc"}))
		end := func(sid, user, client string) {
			must(store.CreateSession(ctx, keyward.Session{ID: sid, CookieHash: []byte(sid), UserID: user, ExpiresAt: ended.Add(time.Hour)}))
			must(store.AddSessionClient(ctx, sid, client))
			must(store.RevokeSession(ctx, sid, ended))
			if _, _, err := store.QueueBackchannelLogouts(ctx, "", sid, ended, keyward.DefaultBackchannelQueueLimit); err != nil {
				t.Fatal(err)
			}
		}
		const backlog = 40
		for i := range backlog {
			end(fmt.Sprintf("s%d", i), "mallory", "hanging")
		}
		end("victim", "alice", "other")
		var (
			mu        sync.Mutex
			deliverAt time.Time
			hangs     int
		)
		client := NewBackchannelClient()
		client.Transport = roundTripper(func(r *http.Request) (*http.Response, error) {
			if r.URL.Host == "hanging.test" {
				mu.Lock()
				hangs++
				mu.Unlock()
				<-r.Context().Done()
				return nil, r.Context().Err()
			}
			mu.Lock()
			if deliverAt.IsZero() {
				deliverAt = time.Now()
			}
			mu.Unlock()
			return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader(""))}, nil
		})
		obs := newOutcomes()
		bc, err := NewBackchannel(BackchannelConfig{Issuer: iss, Store: store, Client: client, Observer: obs})
		must(err)
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- bc.Run(runCtx) }()
		time.Sleep(time.Hour)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if deliverAt.IsZero() {
			t.Fatal("the other relying party's logout was never delivered")
		}
		if d := deliverAt.Sub(ended); d > BackchannelTimeout+time.Second {
			t.Errorf("the other relying party's logout was delivered %v after the session ended, held up by the hanging one's backlog; want at most %v", d, BackchannelTimeout+time.Second)
		}
		if got := obs.count(BackchannelFailed); got != backlog {
			t.Errorf("%d logouts given up, want the hanging party's %d", got, backlog)
		}
		if hangs == 0 || hangs > 3*backlog {
			t.Errorf("%d attempts reached the hanging party, want between 1 and %d", hangs, 3*backlog)
		}
	})
}
