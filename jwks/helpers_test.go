package jwks

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/jose"
)

// testKey returns a deterministic Ed25519 key named by seed, as a public JWK
// whose kid is its thumbprint.
func testKey(t testing.TB, seed string) *jose.JWK {
	t.Helper()
	s := sha256.Sum256([]byte(seed))
	priv := ed25519.NewKeyFromSeed(s[:])
	k, err := jose.NewJWK(priv.Public(), jose.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func setJSON(t testing.TB, keys ...*jose.JWK) []byte {
	t.Helper()
	b, err := (&jose.JWKS{Keys: keys}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// issuer is a test key server whose answer can be changed at any time and
// which counts the requests it serves.
type issuer struct {
	t      testing.TB
	srv    *httptest.Server
	hits   atomic.Int64
	mu     sync.Mutex
	handle http.HandlerFunc
}

func newIssuer(t testing.TB, h http.HandlerFunc) *issuer {
	t.Helper()
	is := &issuer{t: t, handle: h}
	is.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		is.hits.Add(1)
		is.mu.Lock()
		h := is.handle
		is.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(is.srv.Close)
	return is
}

func (is *issuer) set(h http.HandlerFunc) {
	is.mu.Lock()
	is.handle = h
	is.mu.Unlock()
}

func (is *issuer) url() string { return is.srv.URL + "/jwks.json" }

// serveKeys answers with a JWK Set, an ETag and the given Cache-Control.
func serveKeys(t testing.TB, cacheControl string, keys ...*jose.JWK) http.HandlerFunc {
	body := setJSON(t, keys...)
	sum := sha256.Sum256(body)
	etag := fmt.Sprintf(`"%x"`, sum[:8])
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", etag)
		if cacheControl != "" {
			w.Header().Set("Cache-Control", cacheControl)
		}
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(body)
	}
}

// clock is a fake clock that tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
