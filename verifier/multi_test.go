package verifier

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/jwks"
)

// countingKeys is a KeySet that counts its lookups.
type countingKeys struct {
	KeySet
	n atomic.Int64
}

func (c *countingKeys) Keys(ctx context.Context, kid string) (jose.KeySet, error) {
	c.n.Add(1)
	return c.KeySet.Keys(ctx, kid)
}

// countingTransport answers every request with a key set holding an
// unrelated key, and counts them.
type countingTransport struct {
	n    atomic.Int64
	body []byte
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	rec := httptest.NewRecorder()
	rec.Header().Set("Content-Type", "application/json")
	_, _ = rec.Write(c.body)
	return rec.Result(), nil
}

// twoIssuers is a multi-issuer Verifier over "keyward" (rsa-a, at+jwt
// only) and "legacy" (rsa-b, RS256 from http://localhost:4000), with the
// legacy keys behind a remote set whose fetches are counted.
type twoIssuers struct {
	v        *Verifier
	a, b     *testKey
	keyward  *countingKeys
	fetches  *countingTransport
	clk      *clock
	legacyJS *jwks.Set
}

func newTwoIssuers(t *testing.T, cacheSize int) *twoIssuers {
	t.Helper()
	ti := &twoIssuers{clk: newClock(), fetches: &countingTransport{}}
	ti.a = loadTestKey(t, "rsa-a.pem", jose.RS256)
	unrelated, err := (&jose.JWKS{Keys: []*jose.JWK{loadTestKey(t, "ec256.pem", jose.ES256).pub}}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	ti.fetches.body = unrelated
	ti.b = loadTestKey(t, "rsa-b.pem", jose.RS256)
	ti.keyward = &countingKeys{KeySet: StaticKeys(&jose.JWKS{Keys: []*jose.JWK{ti.a.pub}})}
	ti.legacyJS, err = jwks.New(jwks.Config{URL: "http://localhost:4000/jwks.json", Client: &http.Client{Transport: ti.fetches}, Now: ti.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	legacy := Combine(StaticKeys(&jose.JWKS{Keys: []*jose.JWK{ti.b.pub}}), ti.legacyJS)
	ti.v, err = NewMulti(MultiConfig{
		CacheSize: cacheSize,
		Now:       ti.clk.Now,
		Issuers: []Issuer{
			{Name: "keyward", Config: Config{Keys: ti.keyward, Issuers: []string{"https://issuer.example"}, Audiences: []string{"api"}, Algorithms: []jose.Algorithm{jose.RS256}, StrictType: true}},
			{Name: "legacy", Config: Config{Keys: legacy, Issuers: []string{"http://localhost:4000"}, Audiences: []string{"api", "legacy-api"}, Algorithms: []jose.Algorithm{jose.RS256}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return ti
}

func legacyClaims() *jose.Claims {
	c := claims()
	c.Issuer = "http://localhost:4000"
	c.Audience = jose.Audience{"legacy-api"}
	return c
}

func TestMultiRoutesByIssuer(t *testing.T) {
	t.Parallel()
	for _, cacheSize := range []int{0, -1} {
		ti := newTwoIssuers(t, cacheSize)
		unknown := claims()
		unknown.Issuer = "https://evil.example"
		noIss := claims()
		noIss.Issuer = ""
		tests := []struct {
			name   string
			token  string
			issuer string // "" when refused
			reason string
		}{
			{"keyward", ti.a.sign(t, TypeAccessToken, claims()), "keyward", ""},
			{"legacy", ti.b.sign(t, TypeJWT, legacyClaims()), "legacy", ""},
			// The keyward issuer takes only at+jwt; the legacy one's
			// policy does not apply to keyward's tokens.
			{"keyward policy", ti.a.sign(t, TypeJWT, claims()), "", "type"},
			// A key of one issuer never verifies a token naming another.
			{"legacy key, keyward iss", ti.b.sign(t, TypeAccessToken, claims()), "", "key_not_found"},
			{"keyward key, legacy iss", ti.a.sign(t, TypeJWT, legacyClaims()), "", "key_not_found"},
			{"unknown iss", ti.a.sign(t, TypeAccessToken, unknown), "", "issuer"},
			{"no iss", ti.a.sign(t, TypeAccessToken, noIss), "", "issuer"},
			{"malformed", "a.b.c", "", "malformed"},
			{"too large", strings.Repeat("a", 20000), "", "too_large"},
		}
		for _, tt := range tests {
			for range 2 { // the second time from the cache
				c, err := ti.v.Verify(t.Context(), tt.token)
				if tt.issuer == "" {
					if err == nil || Reason(err) != tt.reason {
						t.Errorf("cache %d, %s: err = %v, want reason %s", cacheSize, tt.name, err, tt.reason)
					}
					continue
				}
				if err != nil {
					t.Fatalf("cache %d, %s: %v", cacheSize, tt.name, err)
				}
				if name, ok := ti.v.IssuerName(c); !ok || name != tt.issuer {
					t.Errorf("cache %d, %s: IssuerName = %q, %v", cacheSize, tt.name, name, ok)
				}
				if sub, ok := ti.v.IssuerVerifier(tt.issuer); !ok || !slices.Contains(sub.Issuers(), c.Issuer) {
					t.Errorf("cache %d, %s: IssuerVerifier(%q) does not list %q", cacheSize, tt.name, tt.issuer, c.Issuer)
				}
			}
		}
		if _, ok := ti.v.IssuerVerifier("unknown"); ok {
			t.Error(`IssuerVerifier("unknown") found one`)
		}
	}
}

func TestMultiUnknownIssuerNoFetch(t *testing.T) {
	t.Parallel()
	ti := newTwoIssuers(t, 0)
	c := claims()
	for i := range 100 {
		c.Issuer = "https://attacker.example/" + strings.Repeat("x", i)
		tok := ti.a.sign(t, TypeAccessToken, c)
		if _, err := ti.v.Verify(t.Context(), tok); !errors.Is(err, ErrUnknownIssuer) || !errors.Is(err, jose.ErrIssuer) {
			t.Fatalf("err = %v, want ErrUnknownIssuer", err)
		}
	}
	if n := ti.keyward.n.Load(); n != 0 {
		t.Errorf("keyward key lookups = %d, want 0", n)
	}
	if n := ti.fetches.n.Load(); n != 0 {
		t.Errorf("legacy JWKS fetches = %d, want 0", n)
	}
	// A legacy token with an unknown kid does fetch: the counter counts.
	other, err := jose.NewSigner(ti.b.priv, jose.RS256, "unknown-kid")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := other.SignJWT(TypeJWT, legacyClaims())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ti.v.Verify(t.Context(), tok); err == nil {
		t.Fatal("a token from an unknown key verified")
	}
	if n := ti.fetches.n.Load(); n == 0 {
		t.Error("an unknown kid of the legacy issuer caused no fetch")
	}
}

// TestMultiKeyRemoved checks that a cached token is verified again, and
// refused, once its key leaves its issuer's set, as for one issuer.
func TestMultiCachedExpiry(t *testing.T) {
	t.Parallel()
	ti := newTwoIssuers(t, 0)
	tok := ti.b.sign(t, TypeJWT, legacyClaims())
	if _, err := ti.v.Verify(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	ti.clk.Add(16*time.Minute + DefaultLeeway)
	if _, err := ti.v.Verify(t.Context(), tok); !errors.Is(err, jose.ErrExpired) {
		t.Fatalf("err = %v, want expired", err)
	}
}

type countObserver struct {
	valid, invalid, hits atomic.Int64
}

func (o *countObserver) Verified(outcome, reason string) {
	if outcome == "valid" {
		o.valid.Add(1)
	} else {
		o.invalid.Add(1)
	}
}
func (o *countObserver) CacheHit()  { o.hits.Add(1) }
func (o *countObserver) CacheMiss() {}

func TestMultiObservers(t *testing.T) {
	t.Parallel()
	clk := newClock()
	a := loadTestKey(t, "rsa-a.pem", jose.RS256)
	b := loadTestKey(t, "rsa-b.pem", jose.RS256)
	var all, ka, kb countObserver
	ca := baseConfig(clk, a)
	ca.Observer = &ka
	cb := baseConfig(clk, b)
	cb.Issuers = []string{"http://localhost:4000"}
	cb.Audiences = []string{"legacy-api"}
	cb.Observer = &kb
	v, err := NewMulti(MultiConfig{Issuers: []Issuer{{"a", ca}, {"b", cb}}, Observer: &all, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ta := a.sign(t, TypeAccessToken, claims())
	tb := b.sign(t, TypeJWT, legacyClaims())
	bad := claims()
	bad.Issuer = "nobody"
	for _, tok := range []string{ta, ta, tb, a.sign(t, TypeJWT, bad)} {
		_, _ = v.Verify(t.Context(), tok)
	}
	if all.valid.Load() != 3 || all.invalid.Load() != 1 || all.hits.Load() != 1 {
		t.Errorf("all: valid %d invalid %d hits %d", all.valid.Load(), all.invalid.Load(), all.hits.Load())
	}
	if ka.valid.Load() != 2 || kb.valid.Load() != 1 || ka.invalid.Load()+kb.invalid.Load() != 0 {
		t.Errorf("per issuer: a %d b %d", ka.valid.Load(), kb.valid.Load())
	}
}

func TestNewMultiErrors(t *testing.T) {
	t.Parallel()
	clk := newClock()
	a := loadTestKey(t, "rsa-a.pem", jose.RS256)
	ok := baseConfig(clk, a)
	noIss := ok
	noIss.Issuers = nil
	noIss.InsecureSkipIssuerCheck = true
	tests := []struct {
		name string
		cfg  MultiConfig
	}{
		{"none", MultiConfig{}},
		{"bad name", MultiConfig{Issuers: []Issuer{{"Bad Name", ok}}}},
		{"empty name", MultiConfig{Issuers: []Issuer{{"", ok}}}},
		{"same name", MultiConfig{Issuers: []Issuer{{"a", ok}, {"a", legacyConfig(ok)}}}},
		{"same iss", MultiConfig{Issuers: []Issuer{{"a", ok}, {"b", ok}}}},
		{"no iss", MultiConfig{Issuers: []Issuer{{"a", noIss}}}},
		{"bad issuer config", MultiConfig{Issuers: []Issuer{{"a", Config{Issuers: []string{"x"}}}}}},
	}
	for _, tt := range tests {
		if _, err := NewMulti(tt.cfg); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

func legacyConfig(c Config) Config {
	c.Issuers = []string{"http://localhost:4000"}
	return c
}

// TestMultiCachedAllocations checks that a cached token costs a
// multi-issuer Verifier no more allocations than a single issuer's.
func TestMultiCachedAllocations(t *testing.T) {
	ti := newTwoIssuers(t, 0)
	tok := ti.b.sign(t, TypeJWT, legacyClaims())
	ctx := context.Background()
	if _, err := ti.v.verifyShared(ctx, tok); err != nil {
		t.Fatal(err)
	}
	rs, err := ti.v.Requirements(FromIssuer("legacy"), AnyScope("write", "read"), AnyRole("admin"))
	if err != nil {
		t.Fatal(err)
	}
	n := testing.AllocsPerRun(1000, func() {
		c, err := ti.v.verifyShared(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := ti.v.IssuerName(c); !ok {
			t.Fatal("no issuer")
		}
		if err := rs.Check(c); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Errorf("allocations per cached verification = %v, want 0", n)
	}
}
