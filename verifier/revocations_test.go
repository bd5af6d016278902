package verifier

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
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

// handlerTransport serves requests with an in-process handler, so that a
// test inside a synctest bubble does no network I/O.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

// recordingObserver keeps the events of a RevocationList, in order.
type recordingObserver struct {
	mu     sync.Mutex
	events []string
	outage time.Duration
}

func (o *recordingObserver) add(e string) {
	o.mu.Lock()
	o.events = append(o.events, e)
	o.mu.Unlock()
}

func (o *recordingObserver) Fetched(result string, err error) {
	if (result == "error") != (err != nil) || (err != nil && !errors.Is(err, ErrRevocationFeed)) {
		o.add("bad fetched " + result)
		return
	}
	o.add("fetched " + result)
}

func (o *recordingObserver) Loaded(st RevocationStatus) {
	o.add("loaded " + strconv.Itoa(st.Tokens) + " " + strconv.Itoa(st.Users))
}

func (o *recordingObserver) Unavailable(err error) {
	if !errors.Is(err, ErrRevocationFeed) {
		o.add("bad unavailable")
		return
	}
	o.add("unavailable")
}

func (o *recordingObserver) Recovered(outage time.Duration, st RevocationStatus) {
	o.mu.Lock()
	o.outage = outage
	o.mu.Unlock()
	o.add("recovered")
}

// take returns the events so far and forgets them.
func (o *recordingObserver) take() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	e := o.events
	o.events = nil
	return e
}

// TestRevocationListRun runs the loop on the bubble's fake clock: the first
// fetch at once, one per Every after, a revocation picked up within one
// interval, and a return as soon as its context ends.
func TestRevocationListRun(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		feed := &feedServer{}
		feed.set(`{"tokens":[],"users":[]}`)
		const every = 2 * time.Second
		list, err := NewRevocationList(RevocationConfig{URL: "http://issuer.test/revocations",
			Client: &http.Client{Transport: handlerTransport{feed}}, Every: every})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { list.Run(ctx); close(done) }()
		synctest.Wait()
		if list.Status().FetchedAt.IsZero() || feed.requests.Load() != 1 {
			t.Fatalf("after start: %d requests, fetched at %v; want the first fetch at once", feed.requests.Load(), list.Status().FetchedAt)
		}
		c := &jose.Claims{ID: "j", Subject: "s", IssuedAt: jose.NewNumericDate(time.Now())}
		if err := list.Check(c); err != nil {
			t.Fatalf("Check before the revocation: %v", err)
		}
		feed.set(`{"tokens":[{"jti":"j","exp":` + strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10) + `}],"users":[]}`)
		time.Sleep(every - time.Millisecond)
		synctest.Wait()
		if err := list.Check(c); err != nil || feed.requests.Load() != 1 {
			t.Fatalf("before the interval: Check = %v, %d requests; want no fetch yet", err, feed.requests.Load())
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if err := list.Check(c); !errors.Is(err, ErrRevoked) {
			t.Fatalf("after one interval: Check = %v, want ErrRevoked", err)
		}
		time.Sleep(10 * every)
		synctest.Wait()
		if n := feed.requests.Load(); n != 12 {
			t.Errorf("%d requests after 11 intervals, want 12", n)
		}
		cancel()
		synctest.Wait()
		select {
		case <-done:
		default:
			t.Fatal("Run did not return after its context ended")
		}
	})
}

// TestRevocationListObserver: the observer hears of every fetch, of the
// first load and of changes only, of an outage once however long it lasts,
// and of the recovery with the outage's length; not of a fetch that the
// caller's context cut short.
func TestRevocationListObserver(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		feed := &feedServer{}
		feed.set(`{"tokens":[],"users":[{"sub":"u","before":1}]}`)
		obs := &recordingObserver{}
		const every = 5 * time.Second
		list, err := NewRevocationList(RevocationConfig{URL: "http://issuer.test/revocations",
			Client: &http.Client{Transport: handlerTransport{feed}}, Every: every, Observer: obs})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		go list.Run(ctx)
		step := func(name string, d time.Duration, want ...string) {
			t.Helper()
			time.Sleep(d)
			synctest.Wait()
			if got := obs.take(); !slices.Equal(got, want) {
				t.Errorf("%s: events %q, want %q", name, got, want)
			}
		}
		step("start", 0, "fetched ok", "loaded 0 1")
		step("unchanged", every, "fetched not_modified")
		feed.fail(http.StatusBadGateway)
		step("down", every, "fetched error", "unavailable")
		step("still down", 3*every, "fetched error", "fetched error", "fetched error")
		feed.set(`{"tokens":[],"users":[{"sub":"u","before":1}]}`)
		step("back, same entries", every, "fetched ok", "recovered")
		if obs.outage != 4*every {
			t.Errorf("outage %v, want %v", obs.outage, 4*every)
		}
		feed.set(`{"tokens":[{"jti":"j","exp":0}],"users":[{"sub":"u","before":1}]}`)
		step("changed", every, "fetched ok", "loaded 1 1")
		feed.fail(http.StatusBadGateway)
		cancel()
		step("stopped", 0)
		cctx, ccancel := context.WithCancel(t.Context())
		ccancel()
		if err := list.Refresh(cctx); err == nil {
			t.Fatal("Refresh with an ended context succeeded")
		}
		step("cancelled refresh", 0)
	})
}

// TestRevocationListMaxStale: a list whose last good fetch (or whose start,
// before one) is older than MaxStale is not ready and refuses every token
// with ErrRevocationStale, answered 503, until a fetch succeeds again;
// with InsecureServeStale it keeps checking tokens but is still not ready.
func TestRevocationListMaxStale(t *testing.T) {
	t.Parallel()
	for _, insecure := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			feed := &feedServer{}
			feed.fail(http.StatusBadGateway)
			const maxStale = time.Minute
			list, err := NewRevocationList(RevocationConfig{URL: "http://issuer.test/revocations",
				Client: &http.Client{Transport: handlerTransport{feed}}, MaxStale: maxStale, InsecureServeStale: insecure})
			if err != nil {
				t.Fatal(err)
			}
			c := &jose.Claims{ID: "j", Subject: "s", IssuedAt: jose.NewNumericDate(time.Now())}
			check := func(name string, wantStale bool) {
				t.Helper()
				ready, checked := list.Ready(), list.Check(c)
				if got := errors.Is(ready, ErrRevocationStale); got != wantStale {
					t.Errorf("insecure %v, %s: Ready = %v, want stale %v", insecure, name, ready, wantStale)
				}
				wantRefused := wantStale && !insecure
				if got := errors.Is(checked, ErrRevocationStale) && errors.Is(checked, ErrKeySourceUnavailable); got != wantRefused || (!wantRefused && checked != nil) {
					t.Errorf("insecure %v, %s: Check = %v, want refused %v", insecure, name, checked, wantRefused)
				}
				if wantRefused {
					rec := httptest.NewRecorder()
					WriteError(rec, "api", checked)
					if rec.Code != http.StatusServiceUnavailable {
						t.Errorf("insecure %v, %s: answered %d, want 503", insecure, name, rec.Code)
					}
				}
			}
			check("at start", false)
			time.Sleep(maxStale)
			check("never fetched, at MaxStale", false)
			time.Sleep(time.Second)
			check("never fetched, past MaxStale", true)
			feed.set(`{"tokens":[],"users":[]}`)
			if err := list.Refresh(t.Context()); err != nil {
				t.Fatal(err)
			}
			check("fetched", false)
			feed.fail(http.StatusBadGateway)
			time.Sleep(maxStale / 2)
			_ = list.Refresh(t.Context())
			check("a failure within MaxStale", false)
			time.Sleep(maxStale/2 + time.Second)
			check("past MaxStale since the last good fetch", true)
		})
	}
}
