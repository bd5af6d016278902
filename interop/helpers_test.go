package interop_test

import (
	"crypto"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/jose"
)

// The asymmetric algorithms keyward issues with, in the order tests report
// them.
var asymmetricAlgs = []jose.Algorithm{
	jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512,
	jose.EdDSA,
}

// Test constants shared by the issuers and verifiers of these tests.
const (
	testIssuer   = "https://issuer.keyward.test"
	testAudience = "api://interop"
	testSubject  = "alice"
)

// keyFile returns the path of the pre-generated test key for alg.
func keyFile(tb testing.TB, alg jose.Algorithm) string {
	tb.Helper()
	var name string
	switch alg {
	case jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512:
		name = "rsa2048.pem"
	case jose.ES256:
		name = "p256.pem"
	case jose.ES384:
		name = "p384.pem"
	case jose.ES512:
		name = "p521.pem"
	case jose.EdDSA:
		name = "ed25519.pem"
	default:
		tb.Fatalf("no test key for %s", alg)
	}
	p, err := filepath.Abs(filepath.Join("testdata", "keys", name))
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// privateKey reads the test key for alg.
func privateKey(tb testing.TB, alg jose.Algorithm) crypto.Signer {
	tb.Helper()
	data, err := os.ReadFile(keyFile(tb, alg))
	if err != nil {
		tb.Fatal(err)
	}
	k, err := jose.ParseKeyPEM(data)
	if err != nil {
		tb.Fatalf("%s: %v", alg, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		tb.Fatalf("%s: %T is not a private key", alg, k)
	}
	return s
}

// publicJWK returns the public JWK of the test key for alg, bound to alg,
// with its RFC 7638 thumbprint as key ID.
func publicJWK(tb testing.TB, alg jose.Algorithm) *jose.JWK {
	tb.Helper()
	k, err := jose.NewJWK(privateKey(tb, alg), alg)
	if err != nil {
		tb.Fatal(err)
	}
	pub, err := k.Public()
	if err != nil {
		tb.Fatal(err)
	}
	return pub
}

// signer returns a keyward signer for alg whose key ID is the thumbprint,
// as the issuer's are.
func signer(tb testing.TB, alg jose.Algorithm) *jose.Signer {
	tb.Helper()
	s, err := jose.NewSigner(privateKey(tb, alg), alg, publicJWK(tb, alg).KeyID)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// accessToken signs an RFC 9068 access token for the test issuer and
// audience that expires ttl after now (a negative ttl makes it expired).
func accessToken(tb testing.TB, s *jose.Signer, now time.Time, ttl time.Duration) string {
	tb.Helper()
	iat := now
	if ttl < 0 {
		iat = now.Add(2 * ttl)
	}
	tok, err := s.SignJWT("at+jwt", &jose.Claims{
		Issuer:   testIssuer,
		Subject:  testSubject,
		Audience: jose.Audience{testAudience},
		Expiry:   jose.NewNumericDate(now.Add(ttl)),
		IssuedAt: jose.NewNumericDate(iat),
		ID:       "jti-" + string(s.Algorithm()),
		Extra:    map[string]any{"scope": "read:messages", "client_id": "interop"},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// tamper returns token with one character of its payload changed, so that
// it still parses but its signature no longer verifies.
func tamper(tb testing.TB, token string) string {
	tb.Helper()
	h, rest, _ := strings.Cut(token, ".")
	p, s, ok := strings.Cut(rest, ".")
	if !ok || len(p) < 10 {
		tb.Fatalf("not a compact JWS: %q", token)
	}
	// Flip a character in the middle of the payload between two letters
	// that decode to different bits at any position.
	b := []byte(p)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return h + "." + string(b) + "." + s
}

// jwksServer serves, at /ALG/jwks.json, a JWK Set holding the public test
// key for ALG, and at /recipe/jwks.json the RS256 and ES256 keys together. It stops when the test ends.
type jwksServer struct {
	*httptest.Server
}

func newJWKSServer(tb testing.TB) *jwksServer {
	tb.Helper()
	sets := make(map[string][]byte)
	for _, alg := range asymmetricAlgs {
		b, err := (&jose.JWKS{Keys: []*jose.JWK{publicJWK(tb, alg)}}).MarshalJSON()
		if err != nil {
			tb.Fatal(err)
		}
		sets["/"+string(alg)+"/jwks.json"] = b
	}
	// The classic recipe's set: one RSA key for RS256 and one P-256 key.
	recipe, err := (&jose.JWKS{Keys: []*jose.JWK{publicJWK(tb, jose.RS256), publicJWK(tb, jose.ES256)}}).MarshalJSON()
	if err != nil {
		tb.Fatal(err)
	}
	sets["/recipe/jwks.json"] = recipe
	s := &jwksServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := sets[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(b)
	}))
	tb.Cleanup(s.Close)
	return s
}

// url returns the address of the key set for alg.
func (s *jwksServer) url(alg jose.Algorithm) string {
	return s.URL + "/" + string(alg) + "/jwks.json"
}
