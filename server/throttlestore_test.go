package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// bucketsDownStore is a store whose throttle buckets cannot be taken while
// down is set: the take fails as a backend that cannot reach its database.
type bucketsDownStore struct {
	keyward.Store
	down atomic.Bool
}

func (s *bucketsDownStore) TakeBuckets(ctx context.Context, now time.Time, bs []keyward.Bucket) (time.Duration, error) {
	if s.down.Load() {
		return 0, fmt.Errorf("take buckets: connection refused: %w", keyward.ErrUnavailable)
	}
	return s.Store.TakeBuckets(ctx, now, bs)
}

// TestLoginThrottleStoreDown checks that a login whose throttle buckets the
// store cannot take is refused, 503 temporarily_unavailable with
// Retry-After at POST /login and the temporarily-unavailable page on the
// login form, even with the right password: without the buckets nothing
// bounds the guesses.
func TestLoginThrottleStoreDown(t *testing.T) {
	t.Parallel()
	var bs *bucketsDownStore
	st := newStack(t, stackOptions{wrap: func(s keyward.Store) keyward.Store {
		bs = &bucketsDownStore{Store: s}
		return bs
	}})
	st.addUser(t, "alice", "pw-alice-1")
	bs.down.Store(true)
	resp, b := st.postForm(t, "/login", url.Values{"username": {"alice"}, "password": {"pw-alice-1"}}, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || oauthError(t, resp, b) != "temporarily_unavailable" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("POST /login with the throttle down: %d %s Retry-After %q", resp.StatusCode, b, resp.Header.Get("Retry-After"))
	}
	hc := browser(t, st)
	_, page := get(t, hc, st.srv.URL+"/account")
	f := loginForm(t, page)
	f.Set("username", "alice")
	f.Set("password", "pw-alice-1")
	resp, page = do(t, hc, http.MethodPost, st.srv.URL+"/account/login", f)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(page, "temporarily unavailable") {
		t.Fatalf("account sign-in with the throttle down: %d; body:\n%s", resp.StatusCode, page)
	}
	bs.down.Store(false)
	if tok := st.login(t, "alice", "pw-alice-1"); tok.AccessToken == "" {
		t.Fatal("no token once the store is back")
	}
}
