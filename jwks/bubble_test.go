package jwks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// handlerTransport serves requests with a handler in the caller's
// goroutine, without a network, for use inside a synctest bubble.
type handlerTransport struct {
	mu   sync.Mutex
	h    http.HandlerFunc
	hits int
}

func (ht *handlerTransport) set(h http.HandlerFunc) {
	ht.mu.Lock()
	ht.h = h
	ht.mu.Unlock()
}

func (ht *handlerTransport) count() int {
	ht.mu.Lock()
	defer ht.mu.Unlock()
	return ht.hits
}

func (ht *handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ht.mu.Lock()
	h := ht.h
	ht.hits++
	ht.mu.Unlock()
	rec := httptest.NewRecorder()
	h(rec, r)
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

// rtFunc is a RoundTripper made of a function.
type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// newBubbleSet returns a Set on the in-process transport rt, on the
// bubble's clock, already holding a set.
func newBubbleSet(t *testing.T, rt http.RoundTripper, mod func(*Config)) *Set {
	t.Helper()
	cfg := Config{URL: sourceURL, Client: &http.Client{Transport: rt}}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestUnknownKidBurst(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k1 := testKey(t, "k1")
		const slow = 200 * time.Millisecond
		keys := serveKeys(t, "max-age=3600", k1)
		ht := &handlerTransport{h: keys}
		const timeout = 2 * time.Second
		s := newBubbleSet(t, ht, func(cfg *Config) { cfg.FetchTimeout = timeout })
		ht.set(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(slow) // every burst request arrives while the fetch runs
			keys(w, r)
		})

		burst := func(n int) (maxWait time.Duration) {
			t.Helper()
			var wg sync.WaitGroup
			var mu sync.Mutex
			for range n {
				wg.Go(func() {
					kid := fmt.Sprintf("unknown-%d", rand.Uint64())
					start := time.Now()
					ks, err := s.Keys(t.Context(), kid)
					d := time.Since(start)
					if err != nil {
						t.Errorf("Keys: %v", err)
						return
					}
					if len(ks.Lookup(kid)) != 0 {
						t.Errorf("found a key for %s", kid)
					}
					mu.Lock()
					maxWait = max(maxWait, d)
					mu.Unlock()
				})
			}
			wg.Wait()
			return maxWait
		}

		before := ht.count()
		if wait := burst(1000); wait != slow {
			t.Fatalf("the longest wait in the first burst is %v, want one fetch (%v)", wait, slow)
		}
		if got := ht.count() - before; got != 1 {
			t.Fatalf("first burst made %d fetches, want 1", got)
		}
		// The bucket holds DefaultUnknownKIDBurst fetches: each burst until
		// it is empty costs one more.
		for i := 2; i <= DefaultUnknownKIDBurst; i++ {
			burst(1000)
			if got := ht.count() - before; got != i {
				t.Fatalf("burst %d: %d fetches in all, want %d", i, got, i)
			}
		}
		// The bucket is empty: no fetch at all, and nobody waits.
		time.Sleep(DefaultUnknownKIDRefill / 2)
		if wait := burst(1000); wait != 0 {
			t.Fatalf("a request waited %v with an empty bucket", wait)
		}
		if got := ht.count() - before; got != DefaultUnknownKIDBurst {
			t.Fatalf("a burst with an empty bucket made %d more fetches", got-DefaultUnknownKIDBurst)
		}
		// One refill later: one more fetch for the whole burst.
		time.Sleep(DefaultUnknownKIDRefill / 2)
		burst(1000)
		if got := ht.count() - before; got != DefaultUnknownKIDBurst+1 {
			t.Fatalf("after a refill: %d fetches in all, want %d", got, DefaultUnknownKIDBurst+1)
		}
		if !has(t, s, k1.KeyID) {
			t.Fatal("known key lost")
		}
	})
}

// slowBody yields prefix, then blocks until ctx ends.
type slowBody struct {
	ctx    context.Context
	prefix io.Reader
}

func (b *slowBody) Read(p []byte) (int, error) {
	if n, err := b.prefix.Read(p); err != io.EOF {
		return n, err
	}
	<-b.ctx.Done()
	return 0, b.ctx.Err()
}

func (b *slowBody) Close() error { return nil }

func TestHostileResponsesKeepKnownKeys(t *testing.T) {
	t.Parallel()
	k1, k2 := testKey(t, "k1"), testKey(t, "k2")
	const timeout = 300 * time.Millisecond
	tests := []struct {
		name    string
		handler http.HandlerFunc
		rt      http.RoundTripper // instead of handler
		wantErr string
		took    time.Duration
	}{
		{name: "10 MB body", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			chunk := []byte(strings.Repeat(" ", 64<<10))
			for range 160 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}, wantErr: "limit"},
		{name: "10 s slow response", handler: func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(10 * time.Second):
			case <-r.Context().Done():
			}
		}, wantErr: "no answer within", took: timeout},
		{name: "slow body", rt: rtFunc(func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Request: r,
				Body: &slowBody{r.Context(), strings.NewReader(`{"keys":[`)}}, nil
		}), wantErr: "body not complete within", took: timeout},
		{name: "500", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "internal", http.StatusInternalServerError)
		}, wantErr: "status 500"},
		{name: "HTML instead of JSON", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte("<!doctype html><title>Sign in</title>"))
		}, wantErr: "not JSON"},
		{name: "JSON that is not a key set", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"error":"maintenance"}`))
		}, wantErr: "keys"},
		{name: "empty key set", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"keys":[]}`))
		}, wantErr: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				// The first fetch gets a good set; the hostile answers follow.
				rt := tt.rt
				if rt == nil {
					rt = &handlerTransport{h: tt.handler}
				}
				good := &handlerTransport{h: serveKeys(t, "max-age=600", k1)}
				var first sync.Once
				s := newBubbleSet(t, rtFunc(func(r *http.Request) (*http.Response, error) {
					use := rt
					first.Do(func() { use = good })
					return use.RoundTrip(r)
				}), func(cfg *Config) { cfg.FetchTimeout = timeout })
				time.Sleep(time.Minute)

				start := time.Now()
				if has(t, s, k2.KeyID) {
					t.Fatal("unknown key found")
				}
				if d := time.Since(start); d != tt.took {
					t.Fatalf("unknown-kid lookup took %v, want %v (fetch timeout %v)", d, tt.took, timeout)
				}
				if !has(t, s, k1.KeyID) {
					t.Fatal("known key lost")
				}
				st := s.Status()
				if st.LastError == nil || !errors.Is(st.LastError, ErrFetch) || !strings.Contains(st.LastError.Error(), tt.wantErr) {
					t.Fatalf("last error %v, want one with %q", st.LastError, tt.wantErr)
				}
				if len(st.KeyIDs) != 1 || st.Generation != 1 || !st.Usable {
					t.Fatalf("set changed: %+v", st)
				}
				// A forced refresh fails too, and still leaves the set alone.
				if err := s.Refresh(t.Context()); err == nil {
					t.Fatal("refresh succeeded")
				}
				if !has(t, s, k1.KeyID) {
					t.Fatal("known key lost after refresh")
				}
			})
		})
	}
}

func TestExpiredSetRefreshesInBackground(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k1, k2 := testKey(t, "k1"), testKey(t, "k2")
		ht := &handlerTransport{h: serveKeys(t, "max-age=60", k1)}
		s := newBubbleSet(t, ht, nil)
		release := make(chan struct{})
		ht.set(func(w http.ResponseWriter, r *http.Request) {
			<-release
			serveKeys(t, "max-age=60", k1, k2)(w, r)
		})
		time.Sleep(2 * time.Minute)
		// The lookup answers at once from the expired set, although the
		// refresh it started is blocked (were it waiting, the bubble would
		// deadlock).
		start := time.Now()
		if !has(t, s, k1.KeyID) {
			t.Fatal("known key lost")
		}
		synctest.Wait()
		if time.Since(start) != 0 || ht.count() != 2 {
			t.Fatalf("lookup took %v, %d fetches", time.Since(start), ht.count())
		}
		close(release)
		synctest.Wait()
		if st := s.Status(); len(st.KeyIDs) != 2 {
			t.Fatalf("background refresh did not land: %+v", st)
		}
	})
}

func TestCallerCancelDoesNotAbortSharedFetch(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k1 := testKey(t, "k1")
		release := make(chan struct{})
		ht := &handlerTransport{h: func(w http.ResponseWriter, r *http.Request) {
			<-release
			serveKeys(t, "", k1)(w, r)
		}}
		s, err := New(Config{URL: sourceURL, Client: &http.Client{Transport: ht}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error)
		go func() {
			_, err := s.Keys(ctx, k1.KeyID)
			errc <- err
		}()
		synctest.Wait()
		if s.Status().Fetches != 1 {
			t.Fatal("no fetch started")
		}
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
		close(release)
		synctest.Wait()
		if !has(t, s, k1.KeyID) {
			t.Fatal("the shared fetch was aborted by one caller's cancel")
		}
	})
}

func TestRunRefreshesBeforeExpiry(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k1 := testKey(t, "k1")
		ht := &handlerTransport{h: serveKeys(t, "max-age=0", k1)}
		s, err := New(Config{URL: sourceURL, Client: &http.Client{Transport: ht}, MinTTL: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		runSet(t, s)
		// A 50 ms lifetime: a refresh every 40 ms, from 0 to 1 s.
		time.Sleep(time.Second + 20*time.Millisecond)
		synctest.Wait()
		if n := ht.count(); n != 26 {
			t.Fatalf("%d fetches in 1 s with a 50 ms lifetime, want 26", n)
		}
		if err := s.Ready(); err != nil {
			t.Fatal(err)
		}
	})
}
