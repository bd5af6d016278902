package verifier

import (
	"crypto"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/jose"
)

// testKey is a pre-generated key from testdata with its signer and public
// JWK (kid = thumbprint).
type testKey struct {
	priv   crypto.Signer
	pub    *jose.JWK
	signer *jose.Signer
}

func loadTestKey(t testing.TB, name string, alg jose.Algorithm) *testKey {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	k, err := jose.ParseKeyPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	priv := k.(crypto.Signer)
	pub, err := jose.NewJWK(priv.Public(), "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := jose.NewSigner(priv, alg, pub.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	return &testKey{priv: priv, pub: pub, signer: s}
}

// sign makes a token of type typ with claims, failing the test on error.
func (k *testKey) sign(t testing.TB, typ string, c *jose.Claims) string {
	t.Helper()
	tok, err := k.signer.SignJWT(typ, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// claims returns standard valid claims at t0.
func claims() *jose.Claims {
	return &jose.Claims{
		Issuer:   "https://issuer.example",
		Subject:  "user-1",
		Audience: jose.Audience{"api"},
		IssuedAt: jose.NewNumericDate(t0),
		Expiry:   jose.NewNumericDate(t0.Add(15 * time.Minute)),
		ID:       "jti-1",
		Extra:    map[string]any{"scope": "read write", "roles": []any{"admin"}},
	}
}

// clock is a fake clock that tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: t0} }

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

// baseConfig is a valid Config over static keys at the fake clock.
func baseConfig(c *clock, keys ...*testKey) Config {
	set := &jose.JWKS{}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.pub)
	}
	return Config{
		Keys:       StaticKeys(set),
		Issuers:    []string{"https://issuer.example"},
		Audiences:  []string{"api"},
		Algorithms: []jose.Algorithm{jose.RS256, jose.ES256, jose.EdDSA},
		Now:        c.Now,
	}
}

func newVerifier(t testing.TB, cfg Config) *Verifier {
	t.Helper()
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
