package jwks

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/jose"
)

// newSet returns a Set on is with a fake clock, already holding a set.
func newSet(t *testing.T, is *issuer, c *clock, mod func(*Config)) *Set {
	t.Helper()
	cfg := Config{URL: is.url(), Client: is.srv.Client(), Now: c.Now}
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

// has reports whether the set s returns for kid holds kid.
func has(t *testing.T, s *Set, kid string) bool {
	t.Helper()
	ks, err := s.Keys(t.Context(), kid)
	if err != nil {
		t.Fatalf("Keys(%q): %v", kid, err)
	}
	return len(ks.Lookup(kid)) > 0
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
	}{
		{"nothing", Config{}},
		{"relative URL", Config{URL: "/jwks.json"}},
		{"bad issuer", Config{Issuer: "ftp://x"}},
		{"negative", Config{URL: "http://x/", MaxStale: -1}},
		{"min over max", Config{URL: "http://x/", MinTTL: time.Hour, MaxTTL: time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := New(tt.cfg); err == nil {
				t.Fatal("New accepted", tt.cfg)
			}
		})
	}
}

func TestKeyRotationPickedUpByFirstRequest(t *testing.T) {
	t.Parallel()
	k1, k2 := testKey(t, "k1"), testKey(t, "k2")
	is := newIssuer(t, serveKeys(t, "max-age=3600", k1))
	c := newClock()
	s := newSet(t, is, c, nil)
	if !has(t, s, k1.KeyID) || has(t, s, k2.KeyID) {
		t.Fatal("unexpected initial set")
	}
	// The issuer publishes k2; a minute later the first token signed with
	// it arrives, long before the cached set expires.
	is.set(serveKeys(t, "max-age=3600", k1, k2))
	c.Add(time.Minute)
	before := is.hits.Load()
	if !has(t, s, k2.KeyID) {
		t.Fatal("the new kid was not picked up by the first request carrying it")
	}
	if got := is.hits.Load() - before; got != 1 {
		t.Fatalf("%d fetches, want 1", got)
	}
	if !has(t, s, k1.KeyID) {
		t.Fatal("the old key disappeared")
	}
	if st := s.Status(); st.Generation != 2 || len(st.KeyIDs) != 2 {
		t.Fatalf("status %+v", st)
	}
}

func TestNegativeCacheDropsOnChange(t *testing.T) {
	t.Parallel()
	k1, k2 := testKey(t, "k1"), testKey(t, "k2")
	is := newIssuer(t, serveKeys(t, "max-age=3600", k1))
	c := newClock()
	s := newSet(t, is, c, func(cfg *Config) { cfg.NegativeTTL = time.Hour })
	c.Add(time.Minute)
	if has(t, s, k2.KeyID) {
		t.Fatal("k2 found before it is published")
	}
	// k2 appears; a background refresh brings it in; the negative entry
	// must not hide it.
	is.set(serveKeys(t, "max-age=3600", k1, k2))
	if err := s.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !has(t, s, k2.KeyID) {
		t.Fatal("negative cache hid a key the set now holds")
	}
}

func TestIssuerDownServesStaleThenFailsClosed(t *testing.T) {
	t.Parallel()
	k1, k2 := testKey(t, "k1"), testKey(t, "k2")
	is := newIssuer(t, serveKeys(t, "max-age=600", k1))
	c := newClock()
	s := newSet(t, is, c, func(cfg *Config) { cfg.MaxStale = 6 * time.Hour })
	is.set(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusBadGateway)
	})

	// Expired but within max-stale: known keys keep working, unknown ones
	// are simply not found.
	for _, step := range []time.Duration{11 * time.Minute, time.Hour, 4 * time.Hour} {
		c.Add(step)
		if !has(t, s, k1.KeyID) {
			t.Fatalf("known key lost after %v", step)
		}
		if has(t, s, k2.KeyID) {
			t.Fatal("unknown key found")
		}
		waitIdle(t, s)
	}
	if err := s.Ready(); err != nil {
		t.Fatalf("Ready within max-stale: %v", err)
	}
	if st := s.Status(); st.LastError == nil || !strings.Contains(st.LastError.Error(), "502") {
		t.Fatalf("last error not recorded: %+v", st)
	}

	// Past max-stale: fail closed, saying why.
	c.Add(2 * time.Hour)
	_, err := s.Keys(t.Context(), k1.KeyID)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "502") {
		t.Fatalf("err = %v, want ErrUnavailable with the last fetch error", err)
	}
	if err := s.Ready(); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Ready = %v", err)
	}

	// The issuer comes back: the next lookup after the retry interval
	// recovers.
	is.set(serveKeys(t, "max-age=600", k1))
	c.Add(DefaultRetryInterval)
	if !has(t, s, k1.KeyID) {
		t.Fatal("did not recover")
	}
}

// waitIdle waits for a background refresh started by a lookup to end.
func waitIdle(t *testing.T, s *Set) {
	t.Helper()
	s.mu.Lock()
	f := s.inflight
	s.mu.Unlock()
	if f != nil {
		<-f.done
	}
}

func TestRevalidation304KeepsSet(t *testing.T) {
	t.Parallel()
	k1 := testKey(t, "k1")
	var mu sync.Mutex
	var inm []string
	keys := serveKeys(t, "max-age=120", k1)
	is := newIssuer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inm = append(inm, r.Header.Get("If-None-Match"))
		mu.Unlock()
		keys(w, r)
	})
	c := newClock()
	s := newSet(t, is, c, nil)
	before, _ := s.Keys(t.Context(), k1.KeyID)
	st1 := s.Status()
	c.Add(3 * time.Minute)
	if err := s.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	after, _ := s.Keys(t.Context(), k1.KeyID)
	st2 := s.Status()
	if before != after || st1.Generation != st2.Generation {
		t.Fatal("304 replaced the set")
	}
	if !st2.Fetched.After(st1.Fetched) || st2.Expires.Sub(st2.Fetched) != 2*time.Minute {
		t.Fatalf("304 did not renew the lifetime: %+v", st2)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(inm) != 2 || inm[0] != "" || inm[1] == "" {
		t.Fatalf("If-None-Match headers %q", inm)
	}
}

func TestRemovedKeyStopsVerifying(t *testing.T) {
	t.Parallel()
	k1, k2 := testKey(t, "k1"), testKey(t, "k2")
	is := newIssuer(t, serveKeys(t, "", k1, k2))
	c := newClock()
	s := newSet(t, is, c, nil)
	if !has(t, s, k1.KeyID) {
		t.Fatal("k1 missing")
	}
	ks, _ := s.Keys(t.Context(), k2.KeyID)
	k2ptr := ks.Lookup(k2.KeyID)[0]

	is.set(serveKeys(t, "", k2))
	c.Add(DefaultTTL)
	if err := s.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if has(t, s, k1.KeyID) {
		t.Fatal("removed key still served")
	}
	ks, _ = s.Keys(t.Context(), k2.KeyID)
	if ks.Lookup(k2.KeyID)[0] != k2ptr {
		t.Fatal("an unchanged key got a new identity")
	}
	if st := s.Status(); st.Generation != 2 {
		t.Fatalf("generation %d, want 2", st.Generation)
	}
}

func TestLifetimeFromCacheControl(t *testing.T) {
	t.Parallel()
	k1 := testKey(t, "k1")
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", DefaultTTL},
		{"public, max-age=600", 10 * time.Minute},
		{"max-age=5", DefaultMinTTL},
		{"max-age=604800", DefaultMaxTTL},
		{"no-store", DefaultMinTTL},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			t.Parallel()
			is := newIssuer(t, serveKeys(t, tt.header, k1))
			s := newSet(t, is, newClock(), nil)
			st := s.Status()
			if got := st.Expires.Sub(st.Fetched); got != tt.want {
				t.Fatalf("lifetime %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNeverFetchedFailsClosed(t *testing.T) {
	t.Parallel()
	is := newIssuer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nope", http.StatusServiceUnavailable)
	})
	c := newClock()
	s, err := New(Config{URL: is.url(), Client: is.srv.Client(), Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Keys(t.Context(), "any")
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "no key set fetched yet") {
		t.Fatalf("err = %v", err)
	}
	// Before the next attempt is due the answer comes without a fetch.
	hits := is.hits.Load()
	if _, err := s.Keys(t.Context(), "any"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
	if is.hits.Load() != hits {
		t.Fatal("fetched again before the next attempt was due")
	}
}

func TestDiscoveredSet(t *testing.T) {
	t.Parallel()
	k1 := testKey(t, "k1")
	keys := serveKeys(t, "", k1)
	var iss string
	is := newIssuer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case oidcWellKnown:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, iss, iss+"/keys")
		case "/keys":
			keys(w, r)
		default:
			http.NotFound(w, r)
		}
	})
	iss = is.srv.URL
	s, err := New(Config{Issuer: iss, Client: is.srv.Client(), Now: newClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	if !has(t, s, k1.KeyID) {
		t.Fatal("key not found through discovery")
	}
	if st := s.Status(); st.URL != iss+"/keys" {
		t.Fatalf("URL %q", st.URL)
	}
}

func TestKnownKidLookupAllocatesNothing(t *testing.T) {
	k1, k2 := testKey(t, "k1"), testKey(t, "k2")
	is := newIssuer(t, serveKeys(t, "", k1, k2))
	s := newSet(t, is, newClock(), nil)
	ctx := t.Context()
	var ks jose.KeySet
	allocs := testing.AllocsPerRun(1000, func() {
		ks, _ = s.Keys(ctx, k2.KeyID)
	})
	if allocs != 0 || len(ks.Lookup(k2.KeyID)) != 1 {
		t.Fatalf("%v allocations per known-kid lookup", allocs)
	}
}

func BenchmarkKeysKnownKid(b *testing.B) {
	k1, k2 := testKey(b, "k1"), testKey(b, "k2")
	h := serveKeys(b, "", k1, k2)
	is := newIssuer(b, h)
	s, err := New(Config{URL: is.url(), Client: is.srv.Client()})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Refresh(b.Context()); err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Keys(ctx, k2.KeyID); err != nil {
				b.Fatal(err)
			}
		}
	})
}
