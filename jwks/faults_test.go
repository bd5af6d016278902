package jwks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/keyward/keyward/jose"
)

// fault is a way for a key source to fail.
type fault string

const (
	faultDown      fault = "connection refused"
	fault500       fault = "500"
	faultHTML      fault = "HTML"
	faultTruncated fault = "truncated JSON"
	faultHuge      fault = "10 MB body"
	faultSlow      fault = "10 s slow"
	faultRedirect  fault = "redirect to http"
	healthy        fault = "healthy"
)

var faults = []fault{faultDown, fault500, faultHTML, faultTruncated, faultHuge, faultSlow, faultRedirect}

const sourceURL = "https://issuer.test/jwks.json"

// source is an in-process key source, an http.RoundTripper for use inside a
// synctest bubble: it answers as its current mode says, and counts and
// times the requests it receives.
type source struct {
	t testing.TB

	mu       sync.Mutex
	mode     fault
	body     []byte
	cacheCtl string
	times    []time.Time
}

func newSource(t testing.TB, mode fault, cacheControl string, keys ...*jose.JWK) *source {
	return &source{t: t, mode: mode, body: setJSON(t, keys...), cacheCtl: cacheControl}
}

func (s *source) set(mode fault) {
	s.mu.Lock()
	s.mode = mode
	s.mu.Unlock()
}

func (s *source) publish(keys ...*jose.JWK) {
	b := setJSON(s.t, keys...)
	s.mu.Lock()
	s.body = b
	s.mu.Unlock()
}

func (s *source) hits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.times)
}

// hitsSince counts the requests received at or after t.
func (s *source) hitsSince(t time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, at := range s.times {
		if !at.Before(t) {
			n++
		}
	}
	return n
}

func (s *source) client() *http.Client { return &http.Client{Transport: s} }

// hugeBody yields n bytes of JSON whitespace.
type hugeBody struct{ n int }

func (b *hugeBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	k := min(len(p), b.n)
	for i := range k {
		p[i] = ' '
	}
	b.n -= k
	return k, nil
}

func (b *hugeBody) Close() error { return nil }

func (s *source) RoundTrip(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	mode, body, cc := s.mode, s.body, s.cacheCtl
	s.times = append(s.times, time.Now())
	s.mu.Unlock()
	if r.URL.Scheme == "http" {
		// Whatever a redirect to plain http reaches serves keys: an attacker
		// on the path would serve his own.
		mode = healthy
	}
	resp := &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Header: http.Header{}, Request: r,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, ContentLength: -1}
	text := func(ct, b string) *http.Response {
		resp.Header.Set("Content-Type", ct)
		resp.Body = io.NopCloser(strings.NewReader(b))
		return resp
	}
	switch mode {
	case faultDown:
		return nil, fmt.Errorf("dial tcp 192.0.2.1:443: %w", syscall.ECONNREFUSED)
	case fault500:
		resp.StatusCode, resp.Status = 500, "500 Internal Server Error"
		return text("text/plain", "internal"), nil
	case faultHTML:
		return text("text/html; charset=utf-8", "<!doctype html><title>Sign in</title>"), nil
	case faultTruncated:
		return text("application/json", string(body[:len(body)/2])), nil
	case faultHuge:
		resp.Header.Set("Content-Type", "application/json")
		resp.Body = &hugeBody{n: 10 << 20}
		return resp, nil
	case faultSlow:
		select {
		case <-time.After(10 * time.Second):
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	case faultRedirect:
		resp.StatusCode, resp.Status = http.StatusFound, "302 Found"
		resp.Header.Set("Location", "http://issuer.test/jwks.json")
		return text("text/plain", ""), nil
	}
	resp.Header.Set("Content-Type", "application/jwk-set+json")
	if cc != "" {
		resp.Header.Set("Cache-Control", cc)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// runSet starts s.Run until the test ends.
func runSet(t *testing.T, s *Set) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestRecoveryWithinTwoSeconds starts a Set while its source fails in each
// way, lets requests arrive every 100 ms for 30 s, then heals the source:
// every request that arrives 2 s after that succeeds, and no request ever
// waits longer than one fetch timeout. With Run and without it (lookups
// alone drive the attempts).
func TestRecoveryWithinTwoSeconds(t *testing.T) {
	t.Parallel()
	k1 := testKey(t, "k1")
	for _, mode := range faults {
		for _, withRun := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/run=%v", mode, withRun), func(t *testing.T) {
				t.Parallel()
				synctest.Test(t, func(t *testing.T) {
					src := newSource(t, mode, "max-age=600", k1)
					s, err := New(Config{URL: sourceURL, Client: src.client()})
					if err != nil {
						t.Fatal(err)
					}
					if withRun {
						runSet(t, s)
					}
					start := time.Now()
					healAt := start.Add(30*time.Second + 500*time.Millisecond)
					end := healAt.Add(5 * time.Second)
					type answer struct {
						at, done time.Time
						err      error
					}
					var (
						mu      sync.Mutex
						answers []answer
						wg      sync.WaitGroup
					)
					healed := false
					for now := time.Now(); now.Before(end); now = time.Now() {
						if !healed && !now.Before(healAt) {
							src.set(healthy)
							healed = true
						}
						wg.Go(func() {
							at := time.Now()
							ks, err := s.Keys(t.Context(), k1.KeyID)
							if err == nil && len(ks.Lookup(k1.KeyID)) == 0 {
								err = errors.New("key missing from a usable set")
							}
							mu.Lock()
							answers = append(answers, answer{at, time.Now(), err})
							mu.Unlock()
						})
						time.Sleep(100 * time.Millisecond)
					}
					wg.Wait()
					for _, a := range answers {
						if wait := a.done.Sub(a.at); wait > DefaultFetchTimeout {
							t.Errorf("a request at %v waited %v, over one fetch timeout", a.at.Sub(start), wait)
						}
						switch {
						case a.done.Before(healAt) && a.err == nil:
							t.Fatalf("a request at %v got keys from the failing source", a.at.Sub(start))
						case a.done.Before(healAt) && !errors.Is(a.err, ErrUnavailable):
							t.Errorf("a request at %v: %v, want ErrUnavailable", a.at.Sub(start), a.err)
						case !a.at.Before(healAt.Add(2*time.Second)) && a.err != nil:
							t.Fatalf("a request %v after the source healed: %v", a.at.Sub(healAt), a.err)
						}
					}
				})
			})
		}
	}
}

// TestRotationOneSecondAfterScheduledFetch publishes a new key one second
// after Run's scheduled refresh: the first request carrying it finds it.
func TestRotationOneSecondAfterScheduledFetch(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k1, k2 := testKey(t, "k1"), testKey(t, "k2")
		src := newSource(t, healthy, "max-age=60", k1)
		s, err := New(Config{URL: sourceURL, Client: src.client()})
		if err != nil {
			t.Fatal(err)
		}
		runSet(t, s)
		synctest.Wait()
		if src.hits() != 1 || !has(t, s, k1.KeyID) {
			t.Fatal("Run did not fetch the set at once")
		}
		// Run refreshes at four fifths of the 60 s lifetime.
		time.Sleep(48*time.Second + time.Millisecond)
		synctest.Wait()
		if src.hits() != 2 {
			t.Fatalf("%d fetches after 48 s, want the scheduled one", src.hits())
		}
		time.Sleep(time.Second)
		src.publish(k1, k2)
		if !has(t, s, k2.KeyID) {
			t.Fatal("the first request carrying the new key did not find it")
		}
		if src.hits() != 3 {
			t.Fatalf("%d fetches, want 3", src.hits())
		}
	})
}

// TestUnknownKIDFloodBounded sends 10 000 lookups of random key IDs over one
// minute of fake time, against a source that takes 200 ms to answer: the
// fetches stay within the bucket's bound (DefaultUnknownKIDBurst +
// 1 min / DefaultUnknownKIDRefill = 9), known keys keep working, and no
// lookup waits longer than one fetch timeout.
func TestUnknownKIDFloodBounded(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		k1 := testKey(t, "k1")
		src := newSource(t, healthy, "max-age=3600", k1)
		s, err := New(Config{URL: sourceURL, Client: &http.Client{Transport: slowTransport{src, 200 * time.Millisecond}}})
		if err != nil {
			t.Fatal(err)
		}
		runSet(t, s)
		synctest.Wait()
		start := time.Now()
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			maxWait time.Duration
		)
		const n = 10000
		for i := range n {
			wg.Go(func() {
				kid := fmt.Sprintf("forged-%x", rand.Uint64())
				if i%10 == 0 {
					kid = k1.KeyID
				}
				at := time.Now()
				ks, err := s.Keys(t.Context(), kid)
				if err != nil {
					t.Errorf("Keys: %v", err)
					return
				}
				if found := len(ks.Lookup(kid)) > 0; found != (kid == k1.KeyID) {
					t.Errorf("kid %s found: %v", kid, found)
				}
				mu.Lock()
				maxWait = max(maxWait, time.Since(at))
				mu.Unlock()
			})
			time.Sleep(time.Minute / n)
		}
		wg.Wait()
		bound := DefaultUnknownKIDBurst + int(time.Minute/DefaultUnknownKIDRefill)
		if got := src.hitsSince(start); got > bound {
			t.Fatalf("%d fetches in a minute of random kids, bound %d", got, bound)
		}
		if maxWait > DefaultFetchTimeout {
			t.Fatalf("a lookup waited %v", maxWait)
		}
		t.Logf("%d fetches for %d lookups; longest wait %v", src.hitsSince(start), n, maxWait)
	})
}

// slowTransport delays every answer of its RoundTripper.
type slowTransport struct {
	rt    http.RoundTripper
	delay time.Duration
}

func (s slowTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	select {
	case <-time.After(s.delay):
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	return s.rt.RoundTrip(r)
}
