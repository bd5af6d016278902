package jwks

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
)

// keyServer starts a loopback server, TLS or not, that serves a key set and
// counts its requests; redirect, when set, answers /redirect with a 302 to
// it.
func keyServer(t *testing.T, tls bool, redirect string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	keys := serveKeys(t, "max-age=600", testKey(t, "k1"))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/redirect" && redirect != "" {
			http.Redirect(w, r, redirect, http.StatusFound)
			return
		}
		keys(w, r)
	})
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestCacheDestinations(t *testing.T) {
	t.Parallel()
	plain, plainHits := keyServer(t, false, "")
	secure, secureHits := keyServer(t, true, plain.URL+"/jwks.json")
	localhost := strings.Replace(secure.URL, "127.0.0.1", "localhost", 1)
	tests := []struct {
		name      string
		url       string
		cfg       CacheConfig
		ok        bool
		wantErr   string
		wantHits  int64 // requests the servers received
		transport bool  // the client is srv.Client(), which trusts the test certificate
	}{
		{name: "http loopback by default", url: plain.URL + "/jwks.json", wantErr: "is not https"},
		{name: "http loopback, loopback http allowed but not private", url: plain.URL + "/jwks.json",
			cfg: CacheConfig{AllowLoopbackHTTP: true}, wantErr: "127.0.0.1 is not a public address"},
		{name: "http loopback, both allowed", url: plain.URL + "/jwks.json",
			cfg: CacheConfig{AllowLoopbackHTTP: true, AllowPrivate: true}, ok: true, wantHits: 1},
		{name: "http to a public host with loopback http allowed", url: "http://keys.example.com/jwks.json",
			cfg: CacheConfig{AllowLoopbackHTTP: true, AllowPrivate: true}, wantErr: "is not https"},
		{name: "https loopback by default", url: secure.URL + "/jwks.json", transport: true,
			wantErr: "127.0.0.1 is not a public address"},
		{name: "https localhost by default: checked after resolution", url: localhost + "/jwks.json", transport: true,
			wantErr: "is not a public address"},
		{name: "https loopback allowed", url: secure.URL + "/jwks.json", transport: true,
			cfg: CacheConfig{AllowPrivate: true}, ok: true, wantHits: 1},
		{name: "https to http redirect", url: secure.URL + "/redirect", transport: true,
			cfg: CacheConfig{AllowPrivate: true, AllowLoopbackHTTP: true}, wantErr: "redirect from https", wantHits: 1},
		{name: "user info", url: "https://user:pass@keys.example.com/jwks.json", wantErr: "without user info"},
		{name: "not a URL", url: "keys.example.com/jwks.json", wantErr: "absolute https URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: the servers' hit counters are shared.
			before := plainHits.Load() + secureHits.Load()
			cfg := tt.cfg
			if tt.transport {
				cfg.Client = secure.Client()
			} else {
				cfg.Client = plain.Client()
			}
			c, err := NewCache(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ks, err := c.Keys(t.Context(), tt.url, "")
			if tt.ok {
				if err != nil || ks == nil {
					t.Fatalf("Keys = %v, %v", ks, err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one with %q", err, tt.wantErr)
			} else if strings.Contains(tt.wantErr, "public address") && !errors.Is(err, ErrDestination) {
				t.Fatalf("err = %v, want ErrDestination", err)
			}
			if got := plainHits.Load() + secureHits.Load() - before; got != tt.wantHits {
				t.Fatalf("the servers got %d requests, want %d", got, tt.wantHits)
			}
		})
	}
}

func TestCacheNeedsATransportToCheck(t *testing.T) {
	t.Parallel()
	odd := &http.Client{Transport: rtFunc(func(*http.Request) (*http.Response, error) { return nil, errors.New("unused") })}
	if _, err := NewCache(CacheConfig{Client: odd}); err == nil {
		t.Fatal("NewCache accepted a transport whose destinations it cannot check")
	}
	if _, err := NewCache(CacheConfig{Client: odd, AllowPrivate: true}); err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []CacheConfig{{Size: -1}, {MaxAge: -1}, {MaxAge: 1}} {
		if _, err := NewCache(cfg); err == nil {
			t.Fatalf("NewCache accepted %+v", cfg)
		}
	}
}

func TestCacheIsBounded(t *testing.T) {
	t.Parallel()
	srv, hits := keyServer(t, false, "")
	c, err := NewCache(CacheConfig{Client: srv.Client(), Size: 2, AllowPrivate: true, AllowLoopbackHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/a.json", "/b.json", "/a.json", "/c.json", "/a.json", "/b.json"} {
		if _, err := c.Keys(t.Context(), srv.URL+path, ""); err != nil {
			t.Fatal(err)
		}
	}
	// a, b, (a held), c evicts b, (a held), b evicts c: four fetches.
	if c.Len() != 2 || hits.Load() != 4 {
		t.Fatalf("%d URLs held, %d fetches; want 2 and 4", c.Len(), hits.Load())
	}
}

func TestPublicAddr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr   string
		public bool
	}{
		{"93.184.215.14", true},
		{"2606:4700::6810:84e5", true},
		{"127.0.0.1", false},
		{"::1", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"fe80::1", false},
		{"fd00::1", false},
		{"100.64.0.1", false},
		{"0.0.0.0", false},
		{"::", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"64:ff9b::a00:1", false},
		{"2002:a00:1::", false},
		{"224.0.0.1", false},
		{"255.255.255.255", false},
	}
	for _, tt := range tests {
		if got := publicAddr(netip.MustParseAddr(tt.addr)); got != tt.public {
			t.Errorf("publicAddr(%s) = %v, want %v", tt.addr, got, tt.public)
		}
	}
}
