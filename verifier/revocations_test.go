package verifier

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/jose"
)

// feedServer serves a revocation feed that the test changes, with an ETag,
// and can be made to fail.
type feedServer struct {
	mu       sync.Mutex
	body     string
	version  int
	status   int // when non-zero, answered instead of the feed
	requests atomic.Int32
	notMod   atomic.Int32
}

func (f *feedServer) set(body string) {
	f.mu.Lock()
	f.body, f.version, f.status = body, f.version+1, 0
	f.mu.Unlock()
}

func (f *feedServer) fail(status int) {
	f.mu.Lock()
	f.status = status
	f.mu.Unlock()
}

func (f *feedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	f.mu.Lock()
	body, etag, status := f.body, `"v`+strconv.Itoa(f.version)+`"`, f.status
	f.mu.Unlock()
	if status != 0 {
		http.Error(w, "down", status)
		return
	}
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		f.notMod.Add(1)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(body))
}

func newFeed(t *testing.T, body string) (*feedServer, *httptest.Server) {
	t.Helper()
	f := &feedServer{}
	f.set(body)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func newList(t *testing.T, url string, c *clock, maxBytes int64) *RevocationList {
	t.Helper()
	l, err := NewRevocationList(RevocationConfig{URL: url, Client: &http.Client{}, Now: c.Now, MaxBytes: maxBytes})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestRevocationListRefusesRevokedTokens(t *testing.T) {
	t.Parallel()
	k := loadTestKey(t, "rsa-a.pem", jose.RS256)
	c := newClock()
	exp := strconv.FormatInt(t0.Add(15*time.Minute).Unix(), 10)
	cutoff := strconv.FormatInt(t0.Add(time.Second).Unix(), 10)
	feed, srv := newFeed(t, `{"generated_at":0,"tokens":[],"users":[]}`)
	list := newList(t, srv.URL, c, 0)
	cfg := baseConfig(c, k)
	cfg.Revocations = list
	v := newVerifier(t, cfg)

	byJTI := claims()
	byJTI.ID = "revoked-jti"
	byUser := claims()
	byUser.ID, byUser.Subject = "other-jti", "user-9"
	after := claims()
	after.ID, after.Subject, after.IssuedAt = "late-jti", "user-9", jose.NewNumericDate(t0.Add(2*time.Second))
	tokens := map[string]string{
		"jti":   k.sign(t, TypeAccessToken, byJTI),
		"user":  k.sign(t, TypeAccessToken, byUser),
		"after": k.sign(t, TypeAccessToken, after),
	}

	if err := list.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Verified, and so cached, before the revocation.
	for name, tok := range tokens {
		if _, err := v.Verify(t.Context(), tok); err != nil {
			t.Fatalf("%s before revocation: %v", name, err)
		}
	}
	if v.CacheLen() != 3 {
		t.Fatalf("cache holds %d tokens, want 3", v.CacheLen())
	}

	feed.set(`{"generated_at":1,"tokens":[{"jti":"revoked-jti","exp":` + exp + `}],"users":[{"sub":"user-9","before":` + cutoff + `}]}`)
	if err := list.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		wantErr error
	}{
		{"jti", ErrRevoked},
		{"user", ErrRevoked},
		{"after", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 { // the cache hit, then a full verification
				_, err := v.Verify(t.Context(), tokens[tc.name])
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Verify: %v, want %v", err, tc.wantErr)
				}
			}
		})
	}
	if st := list.Status(); st.Tokens != 1 || st.Users != 1 || st.Err != nil {
		t.Errorf("Status = %+v, want 1 token, 1 user, no error", st)
	}
}

func TestRevocationListKeepsLastGoodFeed(t *testing.T) {
	t.Parallel()
	c := newClock()
	exp := strconv.FormatInt(t0.Add(time.Minute).Unix(), 10)
	feed, srv := newFeed(t, `{"generated_at":1,"tokens":[{"jti":"a","exp":`+exp+`}],"users":[]}`)
	list := newList(t, srv.URL, c, 200)
	revoked := &jose.Claims{ID: "a", Subject: "s", IssuedAt: jose.NewNumericDate(t0)}
	if err := list.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Unchanged: a 304, the list stays.
	if err := list.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if feed.notMod.Load() != 1 {
		t.Errorf("%d answers 304, want 1 (If-None-Match not sent?)", feed.notMod.Load())
	}
	for _, tc := range []struct {
		name      string
		breakFeed func()
	}{
		{"issuer down", func() { feed.fail(http.StatusServiceUnavailable) }},
		{"not JSON", func() { feed.set(`<html>`) }},
		{"over the size cap", func() {
			feed.set(`{"generated_at":1,"tokens":[{"jti":"` + string(make([]byte, 300)) + `","exp":1}],"users":[]}`)
		}},
		{"entry without jti", func() { feed.set(`{"tokens":[{"jti":"","exp":1}]}`) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.breakFeed()
			err := list.Refresh(t.Context())
			if !errors.Is(err, ErrRevocationFeed) {
				t.Fatalf("Refresh: %v, want ErrRevocationFeed", err)
			}
			if err := list.Check(revoked); !errors.Is(err, ErrRevoked) {
				t.Fatalf("last good list lost: Check = %v", err)
			}
			if list.Status().Err == nil {
				t.Error("Status().Err is nil after a failed fetch")
			}
		})
	}
	// Entries drop after their expiry.
	feed.set(`{"generated_at":1,"tokens":[{"jti":"a","exp":` + exp + `}],"users":[]}`)
	c.Add(2 * time.Minute)
	if err := list.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := list.Check(revoked); err != nil {
		t.Errorf("expired entry still refuses: %v", err)
	}
}

func TestNewRevocationListRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  RevocationConfig
	}{
		{"no URL", RevocationConfig{Client: &http.Client{}}},
		{"relative URL", RevocationConfig{URL: "/revocations", Client: &http.Client{}}},
		{"no client", RevocationConfig{URL: "http://127.0.0.1/revocations"}},
		{"negative interval", RevocationConfig{URL: "http://127.0.0.1/revocations", Client: &http.Client{}, Every: -time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := NewRevocationList(tc.cfg); err == nil {
				t.Fatal("NewRevocationList accepted it")
			}
		})
	}
}

func TestRevocationListRun(t *testing.T) {
	t.Parallel()
	feed, srv := newFeed(t, `{"tokens":[],"users":[]}`)
	list, err := NewRevocationList(RevocationConfig{URL: srv.URL, Client: &http.Client{}, Every: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { list.Run(ctx); close(done) }()
	c := &jose.Claims{ID: "j", Subject: "s", IssuedAt: jose.NewNumericDate(time.Now())}
	for start := time.Now(); list.Status().FetchedAt.IsZero(); { // the first fetch, at once
		if time.Since(start) > 5*time.Second {
			t.Fatal("Run did not fetch the feed")
		}
		time.Sleep(time.Millisecond)
	}
	if err := list.Check(c); err != nil {
		t.Fatalf("Check before the revocation: %v", err)
	}
	feed.set(`{"tokens":[{"jti":"j","exp":` + strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10) + `}],"users":[]}`)
	deadline := time.Now().Add(5 * time.Second)
	for list.Check(c) == nil {
		if time.Now().After(deadline) {
			t.Fatal("Run did not pick up the revocation")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if n := feed.requests.Load(); n < 2 {
		t.Errorf("%d requests, want at least 2", n)
	}
}
