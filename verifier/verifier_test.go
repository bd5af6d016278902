package verifier

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/jwks"
)

func TestNewValidates(t *testing.T) {
	t.Parallel()
	c := newClock()
	rsaA := loadTestKey(t, "rsa-a.pem", jose.RS256)
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no keys", func(cfg *Config) { cfg.Keys = nil }, "Keys"},
		{"no algorithms", func(cfg *Config) { cfg.Algorithms = nil }, "Algorithms"},
		{"unknown algorithm", func(cfg *Config) { cfg.Algorithms = []jose.Algorithm{"none"} }, "Algorithms"},
		{"no issuers", func(cfg *Config) { cfg.Issuers = nil }, "Issuers"},
		{"no audiences", func(cfg *Config) { cfg.Audiences = nil }, "Audiences"},
		{"empty issuer", func(cfg *Config) { cfg.Issuers = []string{""} }, "empty"},
		{"negative leeway", func(cfg *Config) { cfg.Leeway = -time.Second }, "Leeway"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := baseConfig(c, rsaA)
			tt.mod(&cfg)
			if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want an error about %s", err, tt.want)
			}
		})
	}
	// The unsafe spellings work.
	cfg := baseConfig(c, rsaA)
	cfg.Issuers, cfg.Audiences = nil, nil
	cfg.InsecureSkipIssuerCheck, cfg.InsecureSkipAudienceCheck = true, true
	if _, err := New(cfg); err != nil {
		t.Fatal(err)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	rsaA := loadTestKey(t, "rsa-a.pem", jose.RS256)
	rsaB := loadTestKey(t, "rsa-b.pem", jose.RS256) // not in the key set
	ec := loadTestKey(t, "ec256.pem", jose.ES256)
	ed := loadTestKey(t, "ed25519.pem", jose.EdDSA)
	c := newClock()

	with := func(mod func(*jose.Claims)) *jose.Claims {
		cl := claims()
		mod(cl)
		return cl
	}
	tampered := func() string {
		tok := rsaA.sign(t, "at+jwt", claims())
		h, rest, _ := strings.Cut(tok, ".")
		_, sig, _ := strings.Cut(rest, ".")
		forged := with(func(c *jose.Claims) { c.Subject = "admin" })
		p, _ := forged.MarshalJSON()
		return h + "." + base64.RawURLEncoding.EncodeToString(p) + "." + sig
	}
	algNone := func() string {
		h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`))
		p, _ := claims().MarshalJSON()
		return h + "." + base64.RawURLEncoding.EncodeToString(p) + "."
	}
	// HS256 signed with the RSA public key's DER as the secret: the
	// classic algorithm confusion.
	confused := func() string {
		der, _ := x509.MarshalPKIXPublicKey(&rsaA.priv.(*rsa.PrivateKey).PublicKey)
		s, err := jose.NewSigner(jose.SharedSecret(der), jose.HS256, rsaA.pub.KeyID)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := s.SignJWT("at+jwt", claims())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	tests := []struct {
		name    string
		token   string
		mod     func(*Config)
		wantErr error
	}{
		{name: "RS256 at+jwt", token: rsaA.sign(t, "at+jwt", claims())},
		{name: "RS256 JWT", token: rsaA.sign(t, "JWT", claims())},
		{name: "ES256", token: ec.sign(t, "at+jwt", claims())},
		{name: "EdDSA", token: ed.sign(t, "at+jwt", claims())},
		{name: "application/at+jwt", token: rsaA.sign(t, "application/at+jwt", claims())},
		{name: "no typ", token: func() string {
			p, _ := claims().MarshalJSON()
			tok, _ := rsaA.signer.Sign("", p)
			return tok
		}(), wantErr: jose.ErrType},
		{name: "strict refuses JWT", token: rsaA.sign(t, "JWT", claims()), mod: func(c *Config) { c.StrictType = true }, wantErr: jose.ErrType},
		{name: "strict accepts at+jwt", token: rsaA.sign(t, "at+jwt", claims()), mod: func(c *Config) { c.StrictType = true }},
		{name: "expired", token: rsaA.sign(t, "at+jwt", with(func(c *jose.Claims) { c.Expiry = jose.NewNumericDate(t0.Add(-time.Minute)) })), wantErr: jose.ErrExpired},
		{name: "expired within leeway", token: rsaA.sign(t, "at+jwt", with(func(c *jose.Claims) { c.Expiry = jose.NewNumericDate(t0.Add(-20 * time.Second)) }))},
		{name: "expired within leeway, no leeway", token: rsaA.sign(t, "at+jwt", with(func(c *jose.Claims) { c.Expiry = jose.NewNumericDate(t0.Add(-20 * time.Second)) })), mod: func(c *Config) { c.NoLeeway = true }, wantErr: jose.ErrExpired},
		{name: "no exp", token: rsaA.sign(t, "at+jwt", with(func(c *jose.Claims) { c.Expiry = 0 })), wantErr: jose.ErrMissingClaim},
		{name: "nbf in the future", token: rsaA.sign(t, "at+jwt", with(func(c *jose.Claims) { c.NotBefore = jose.NewNumericDate(t0.Add(5 * time.Minute)) })), wantErr: jose.ErrNotYetValid},
		{name: "wrong aud", token: rsaA.sign(t, "at+jwt", with(func(c *jose.Claims) { c.Audience = jose.Audience{"other"} })), wantErr: jose.ErrAudience},
		{name: "one of several aud", token: rsaA.sign(t, "at+jwt", with(func(c *jose.Claims) { c.Audience = jose.Audience{"other", "api"} }))},
		{name: "wrong iss", token: rsaA.sign(t, "at+jwt", with(func(c *jose.Claims) { c.Issuer = "https://evil.example" })), wantErr: jose.ErrIssuer},
		{name: "required claim", token: rsaA.sign(t, "at+jwt", with(func(c *jose.Claims) { c.ID = "" })), mod: func(c *Config) { c.RequiredClaims = []string{"jti"} }, wantErr: jose.ErrMissingClaim},
		{name: "tampered", token: tampered(), wantErr: jose.ErrSignature},
		{name: "alg none", token: algNone(), wantErr: jose.ErrAlgorithmNotAllowed},
		{name: "HS256 with the RSA public key", token: confused(), mod: func(c *Config) { c.Algorithms = append(c.Algorithms, jose.HS256) }, wantErr: jose.ErrAlgorithmNotAllowed},
		{name: "algorithm outside the allowlist", token: ec.sign(t, "at+jwt", claims()), mod: func(c *Config) { c.Algorithms = []jose.Algorithm{jose.RS256} }, wantErr: jose.ErrAlgorithmNotAllowed},
		{name: "unknown key", token: rsaB.sign(t, "at+jwt", claims()), wantErr: jose.ErrKeyNotFound},
		{name: "malformed", token: "not.a.token!", wantErr: jose.ErrMalformed},
		{name: "too large", token: strings.Repeat("a", 20<<10), wantErr: jose.ErrTooLarge},
		{name: "smaller size limit", token: rsaA.sign(t, "at+jwt", claims()), mod: func(c *Config) { c.MaxTokenSize = 100 }, wantErr: jose.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := baseConfig(c, rsaA, ec, ed)
			if tt.mod != nil {
				tt.mod(&cfg)
			}
			v := newVerifier(t, cfg)
			// Twice: the second call may be a cache hit and must agree.
			for i := range 2 {
				got, err := v.Verify(t.Context(), tt.token)
				if tt.wantErr != nil {
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("call %d: err = %v, want %v", i, err, tt.wantErr)
					}
					if got != nil {
						t.Fatal("claims returned with an error")
					}
					continue
				}
				if err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				if got.Subject != "user-1" || got.String("scope") != "read write" {
					t.Fatalf("claims %+v", got)
				}
			}
		})
	}
}

func TestCacheChecksExpiryOnEveryHit(t *testing.T) {
	t.Parallel()
	rsaA := loadTestKey(t, "rsa-a.pem", jose.RS256)
	c := newClock()
	obs := &countingObserver{}
	cfg := baseConfig(c, rsaA)
	cfg.Observer = obs
	v := newVerifier(t, cfg)
	tok := rsaA.sign(t, "at+jwt", claims()) // exp = t0 + 15m
	first, err := v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	second, err := v.Verify(t.Context(), tok)
	if err != nil || obs.hits.Load() != 1 || v.CacheLen() != 1 {
		t.Fatalf("not a cache hit: %v, %d hits, %d cached", err, obs.hits.Load(), v.CacheLen())
	}
	if second == first || !reflect.DeepEqual(second, first) {
		t.Fatalf("a hit gave %p %+v, want a copy of %p %+v", second, second, first, first)
	}
	c.Add(15*time.Minute + DefaultLeeway - time.Second)
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	c.Add(time.Second)
	if _, err := v.Verify(t.Context(), tok); !errors.Is(err, jose.ErrExpired) {
		t.Fatalf("err = %v, want ErrExpired from a cached token", err)
	}
	if v.CacheLen() != 0 {
		t.Fatal("expired entry kept")
	}
}

func TestCacheOff(t *testing.T) {
	t.Parallel()
	rsaA := loadTestKey(t, "rsa-a.pem", jose.RS256)
	c := newClock()
	cfg := baseConfig(c, rsaA)
	cfg.CacheSize = -1
	v := newVerifier(t, cfg)
	tok := rsaA.sign(t, "at+jwt", claims())
	a, err := v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	b, err := v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if a == b || v.CacheLen() != 0 {
		t.Fatal("the cache is on")
	}
}

func TestCacheIsBounded(t *testing.T) {
	t.Parallel()
	ed := loadTestKey(t, "ed25519.pem", jose.EdDSA)
	c := newClock()
	cfg := baseConfig(c, ed)
	cfg.CacheSize = 10
	v := newVerifier(t, cfg)
	for i := range 50 {
		cl := claims()
		cl.ID = fmt.Sprint(i)
		if _, err := v.Verify(t.Context(), ed.sign(t, "at+jwt", cl)); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.CacheLen(); n != 10 {
		t.Fatalf("cache holds %d entries, want 10", n)
	}
}

// keyServer serves a JWK Set that the test can change.
type keyServer struct {
	srv  *httptest.Server
	mu   sync.Mutex
	body []byte
	down bool
}

func newKeyServer(t *testing.T, keys ...*testKey) *keyServer {
	t.Helper()
	ks := &keyServer{}
	ks.publish(t, keys...)
	ks.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ks.mu.Lock()
		body, down := ks.body, ks.down
		ks.mu.Unlock()
		if down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=300")
		w.Write(body)
	}))
	t.Cleanup(ks.srv.Close)
	return ks
}

func (ks *keyServer) publish(t *testing.T, keys ...*testKey) {
	t.Helper()
	set := &jose.JWKS{}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.pub)
	}
	b, err := set.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	ks.mu.Lock()
	ks.body = b
	ks.mu.Unlock()
}

func (ks *keyServer) setDown(down bool) {
	ks.mu.Lock()
	ks.down = down
	ks.mu.Unlock()
}

func (ks *keyServer) set(t *testing.T, c *clock, mod func(*jwks.Config)) *jwks.Set {
	t.Helper()
	cfg := jwks.Config{URL: ks.srv.URL + "/jwks.json", Client: ks.srv.Client(), Now: c.Now}
	if mod != nil {
		mod(&cfg)
	}
	s, err := jwks.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRemovedKeyDropsCachedTokens(t *testing.T) {
	t.Parallel()
	rsaA := loadTestKey(t, "rsa-a.pem", jose.RS256)
	ed := loadTestKey(t, "ed25519.pem", jose.EdDSA)
	c := newClock()
	ks := newKeyServer(t, rsaA, ed)
	set := ks.set(t, c, nil)
	cfg := baseConfig(c)
	cfg.Keys = set
	v := newVerifier(t, cfg)

	tokA := rsaA.sign(t, "at+jwt", claims())
	tokE := ed.sign(t, "at+jwt", claims())
	for _, tok := range []string{tokA, tokE} {
		if _, err := v.Verify(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if v.CacheLen() != 2 {
		t.Fatalf("cache %d", v.CacheLen())
	}
	// The issuer retires rsaA; after the next refresh its tokens, cached
	// or not, stop verifying, and the other key's cached token still hits.
	ks.publish(t, ed)
	c.Add(5 * time.Minute)
	if err := set.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), tokA); !errors.Is(err, jose.ErrKeyNotFound) {
		t.Fatalf("err = %v, want ErrKeyNotFound for a token of a removed key", err)
	}
	if _, err := v.Verify(t.Context(), tokE); err != nil {
		t.Fatal(err)
	}
	if v.CacheLen() != 1 {
		t.Fatalf("cache %d, want only the surviving key's token", v.CacheLen())
	}
}

func TestKeySourceUnavailable(t *testing.T) {
	t.Parallel()
	rsaA := loadTestKey(t, "rsa-a.pem", jose.RS256)
	c := newClock()
	ks := newKeyServer(t, rsaA)
	ks.setDown(true)
	cfg := baseConfig(c)
	cfg.Keys = ks.set(t, c, nil)
	v := newVerifier(t, cfg)
	_, err := v.Verify(t.Context(), rsaA.sign(t, "at+jwt", claims()))
	if !errors.Is(err, ErrKeySourceUnavailable) || !errors.Is(err, jwks.ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
	if Description(err) != "key source unavailable" {
		t.Fatal(Description(err))
	}
}

func TestIssuerDownThenMaxStale(t *testing.T) {
	t.Parallel()
	rsaA := loadTestKey(t, "rsa-a.pem", jose.RS256)
	c := newClock()
	ks := newKeyServer(t, rsaA)
	set := ks.set(t, c, func(cfg *jwks.Config) { cfg.MaxStale = 2 * time.Hour })
	cfg := baseConfig(c)
	cfg.Keys = set
	cfg.CacheSize = -1
	v := newVerifier(t, cfg)
	if err := set.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	ks.setDown(true)
	// Tokens minted later, to stay unexpired while the clock moves.
	mint := func() string {
		cl := claims()
		cl.IssuedAt = jose.NewNumericDate(c.Now())
		cl.Expiry = jose.NewNumericDate(c.Now().Add(10 * time.Minute))
		return rsaA.sign(t, "at+jwt", cl)
	}
	c.Add(90 * time.Minute)
	if _, err := v.Verify(t.Context(), mint()); err != nil {
		t.Fatalf("within max-stale: %v", err)
	}
	c.Add(31 * time.Minute)
	if _, err := v.Verify(t.Context(), mint()); !errors.Is(err, ErrKeySourceUnavailable) {
		t.Fatalf("past max-stale: err = %v", err)
	}
}

func TestCombine(t *testing.T) {
	t.Parallel()
	rsaA := loadTestKey(t, "rsa-a.pem", jose.RS256)
	ed := loadTestKey(t, "ed25519.pem", jose.EdDSA)
	c := newClock()
	remote := newKeyServer(t, ed)
	cfg := baseConfig(c)
	cfg.Keys = Combine(StaticKeys(&jose.JWKS{Keys: []*jose.JWK{rsaA.pub}}), remote.set(t, c, nil))
	v := newVerifier(t, cfg)
	for _, tok := range []string{rsaA.sign(t, "at+jwt", claims()), ed.sign(t, "at+jwt", claims())} {
		if _, err := v.Verify(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
	}
	// The remote goes away before ever being fetched: static keys still
	// work, unknown kids report the outage.
	down := newKeyServer(t, ed)
	down.setDown(true)
	cfg.Keys = Combine(StaticKeys(&jose.JWKS{Keys: []*jose.JWK{rsaA.pub}}), down.set(t, c, nil))
	v = newVerifier(t, cfg)
	if _, err := v.Verify(t.Context(), rsaA.sign(t, "at+jwt", claims())); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), ed.sign(t, "at+jwt", claims())); !errors.Is(err, ErrKeySourceUnavailable) {
		t.Fatalf("err = %v", err)
	}
}

// TestCacheHitClaimsEqualVerified: a hit answers the claims the first,
// uncached, verification gave, with one audience (which the entry keeps in
// an array of its own) and with several.
func TestCacheHitClaimsEqualVerified(t *testing.T) {
	t.Parallel()
	rsaA := loadTestKey(t, "rsa-a.pem", jose.RS256)
	tests := []struct {
		name string
		aud  jose.Audience
	}{
		{"one audience", jose.Audience{"api"}},
		{"several", jose.Audience{"other", "api", "third"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := newVerifier(t, baseConfig(newClock(), rsaA))
			c := claims()
			c.Audience = tt.aud
			tok := rsaA.sign(t, "at+jwt", c)
			first, err := v.Verify(t.Context(), tok)
			if err != nil {
				t.Fatal(err)
			}
			if v.CacheLen() != 1 {
				t.Fatalf("CacheLen = %d after a verification", v.CacheLen())
			}
			for range 2 {
				hit, err := v.Verify(t.Context(), tok)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(hit, first) || !slices.Equal(hit.Audience, tt.aud) {
					t.Fatalf("hit %+v, verified %+v", hit, first)
				}
			}
		})
	}
}

// TestCacheHitAllocations: a hit costs Verify the copy of the Claims struct
// it returns, and the middleware nothing beyond what an uncached request
// costs it (it copies the claims into the allocation that carries them).
func TestCacheHitAllocations(t *testing.T) {
	rsaA := loadTestKey(t, "rsa-a.pem", jose.RS256)
	c := newClock()
	v := newVerifier(t, baseConfig(c, rsaA))
	tok := rsaA.sign(t, "at+jwt", claims())
	ctx := t.Context()
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		verify func() (*jose.Claims, error)
		want   float64
	}{
		{"Verify", func() (*jose.Claims, error) { return v.Verify(ctx, tok) }, 1},
		{"verifyShared", func() (*jose.Claims, error) { return v.verifyShared(ctx, tok) }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			allocs := testing.AllocsPerRun(1000, func() {
				if _, err := tt.verify(); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != tt.want {
				t.Fatalf("%v allocations per cache hit, want %v", allocs, tt.want)
			}
		})
	}
}

// TestCacheHitClaimsAreTheCallers runs with -race in CI: requests with the
// same token, answered from the cache, each reassign the fields of their
// own claims, through Verify and through the middleware.
func TestCacheHitClaimsAreTheCallers(t *testing.T) {
	t.Parallel()
	rsaA := loadTestKey(t, "rsa-a.pem", jose.RS256)
	c := newClock()
	v := newVerifier(t, baseConfig(c, rsaA))
	tok := rsaA.sign(t, "at+jwt", claims())
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	// modify changes every top-level field of c, then checks that no other
	// request changed them meanwhile.
	modify := func(c *jose.Claims, i int) error {
		me := fmt.Sprintf("caller-%d", i)
		extra := maps.Clone(c.Extra)
		extra["seen_by"] = me
		*c = jose.Claims{Issuer: me, Subject: me, Audience: jose.Audience{me}, Expiry: 1, NotBefore: 1, IssuedAt: 1, ID: me, Extra: extra}
		for range 10 {
			runtime.Gosched()
			if c.Subject != me || c.Issuer != me || c.Extra["seen_by"] != me {
				return fmt.Errorf("caller %d sees %+v", i, c)
			}
		}
		return nil
	}
	h := Middleware(v, MiddlewareConfig{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := ClaimsFrom(r.Context())
		i, _ := strconv.Atoi(r.Header.Get("X-Caller"))
		if err := modify(c, i); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}))
	tests := []struct {
		name string
		call func(i int) error
	}{
		{"Verify", func(i int) error {
			c, err := v.Verify(t.Context(), tok)
			if err != nil {
				return err
			}
			return modify(c, i)
		}},
		{"Middleware", func(i int) error {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			r.Header.Set("X-Caller", strconv.Itoa(i))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				return fmt.Errorf("status %d: %s", w.Code, w.Body)
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const callers = 8
			errs := make(chan error, callers)
			var wg sync.WaitGroup
			for i := range callers {
				wg.Go(func() { errs <- tt.call(i) })
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			// The cached claims are as the issuer signed them.
			got, err := v.Verify(t.Context(), tok)
			if err != nil || got.Subject != "user-1" || got.Extra["seen_by"] != nil {
				t.Fatalf("cached claims changed: %+v %v", got, err)
			}
		})
	}
}

// askedKeys is a KeySet that counts the questions it is asked, and fails
// them all when down.
type askedKeys struct {
	keys  KeySet
	down  bool
	asked atomic.Int64
}

func (k *askedKeys) Keys(ctx context.Context, kid string) (jose.KeySet, error) {
	k.asked.Add(1)
	if k.down {
		return nil, errors.New("connection refused")
	}
	return k.keys.Keys(ctx, kid)
}

// TestKeySetAskedOnce: the key set is asked once per uncached token, for
// its kid, and only once the header's algorithm is in the allowlist, so a
// token that fails that check never starts a fetch of an unknown kid; it
// is refused as such even while the key source is down.
func TestKeySetAskedOnce(t *testing.T) {
	t.Parallel()
	rsaA := loadTestKey(t, "rsa-a.pem", jose.RS256)
	ec := loadTestKey(t, "ec256.pem", jose.ES256)
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"https://issuer.example","aud":"api","exp":9999999999}`)) + "."
	tests := []struct {
		name      string
		token     string
		down      bool
		wantErr   error
		wantAsked int64
	}{
		{name: "valid", token: rsaA.sign(t, "at+jwt", claims()), wantAsked: 1},
		{name: "valid, source down", token: rsaA.sign(t, "at+jwt", claims()), down: true, wantErr: ErrKeySourceUnavailable, wantAsked: 1},
		{name: "algorithm outside the allowlist", token: ec.sign(t, "at+jwt", claims()), wantErr: jose.ErrAlgorithmNotAllowed},
		{name: "algorithm outside the allowlist, source down", token: ec.sign(t, "at+jwt", claims()), down: true, wantErr: jose.ErrAlgorithmNotAllowed},
		{name: "alg none, source down", token: none, down: true, wantErr: jose.ErrAlgorithmNotAllowed},
		{name: "malformed, source down", token: "a.b", down: true, wantErr: jose.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			keys := &askedKeys{keys: StaticKeys(&jose.JWKS{Keys: []*jose.JWK{rsaA.pub, ec.pub}}), down: tt.down}
			cfg := baseConfig(newClock())
			cfg.Keys = keys
			cfg.Algorithms = []jose.Algorithm{jose.RS256}
			cfg.CacheSize = -1
			_, err := newVerifier(t, cfg).Verify(t.Context(), tt.token)
			if (tt.wantErr == nil && err != nil) || !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got := keys.asked.Load(); got != tt.wantAsked {
				t.Fatalf("the key set was asked %d times, want %d", got, tt.wantAsked)
			}
		})
	}
}

// countingObserver counts cache hits and misses.
type countingObserver struct{ hits, misses atomic.Int64 }

func (o *countingObserver) Verified(outcome, reason string) {}
func (o *countingObserver) CacheHit()                       { o.hits.Add(1) }
func (o *countingObserver) CacheMiss()                      { o.misses.Add(1) }

// TestDependencies keeps the promise of the package documentation: a
// service that verifies tokens pulls in no SQL driver and no issuer code.
func TestDependencies(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	forbidden := []string{"database/sql", "modernc.org", "jackc", "keyward/issuer", "keyward/server", "keyward/storage"}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.Contains(dep, f) {
				t.Errorf("verifier depends on %s", dep)
			}
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	rsaA := loadTestKey(b, "rsa-a.pem", jose.RS256)
	c := newClock()
	tok := rsaA.sign(b, "at+jwt", claims())
	for _, size := range []int{0, -1} {
		name := "cached"
		if size < 0 {
			name = "uncached"
		}
		b.Run(name, func(b *testing.B) {
			cfg := baseConfig(c, rsaA)
			cfg.CacheSize = size
			v := newVerifier(b, cfg)
			ctx := b.Context()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRawRS256 is the floor of an uncached verification: SHA-256 of the
// signing input and rsa.VerifyPKCS1v15, nothing else.
func BenchmarkRawRS256(b *testing.B) {
	rsaA := loadTestKey(b, "rsa-a.pem", jose.RS256)
	tok := rsaA.sign(b, "at+jwt", claims())
	i := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil {
		b.Fatal(err)
	}
	input := []byte(tok[:i])
	pub := &rsaA.priv.(*rsa.PrivateKey).PublicKey
	b.ReportAllocs()
	for b.Loop() {
		sum := sha256.Sum256(input)
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}
