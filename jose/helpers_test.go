package jose

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The test keys in testdata/keys were made once with openssl (see
// testdata/keys/README.md), so that no test waits on RSA key generation.

// readTestdata returns a file under testdata.
func readTestdata(tb testing.TB, path ...string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{"testdata"}, path...)...))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// testKey returns the private key in testdata/keys/name, parsed with the
// standard library alone so that keys this package refuses (RSA-1024) load.
func testKey(tb testing.TB, name string) crypto.Signer {
	tb.Helper()
	block, _ := pem.Decode(readTestdata(tb, "keys", name))
	if block == nil {
		tb.Fatalf("%s: no PEM block", name)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return k.(crypto.Signer)
}

// testSecret returns a fixed 64-byte shared secret, long enough for HS512.
func testSecret() SharedSecret {
	return SharedSecret("keyward-test-secret-0123456789abcdef-0123456789abcdef-0123456789")
}

// signingKey returns a test private key (or the shared secret) for alg.
func signingKey(tb testing.TB, alg Algorithm) any {
	tb.Helper()
	switch alg {
	case RS256, RS384, RS512, PS256, PS384, PS512:
		return testKey(tb, "rsa2048.pem")
	case ES256:
		return testKey(tb, "p256.pem")
	case ES384:
		return testKey(tb, "p384.pem")
	case ES512:
		return testKey(tb, "p521.pem")
	case EdDSA:
		return testKey(tb, "ed25519.pem")
	case HS256, HS384, HS512:
		return testSecret()
	}
	tb.Fatalf("no test key for %q", alg)
	return nil
}

// verifyingJWK returns the JWK that verifies tokens signed with key for alg:
// the public half for asymmetric keys, the secret itself for HS*.
func verifyingJWK(tb testing.TB, key any, alg Algorithm) *JWK {
	tb.Helper()
	if s, ok := key.(SharedSecret); ok {
		k, err := NewJWK(s, alg)
		if err != nil {
			tb.Fatal(err)
		}
		return k
	}
	pub, err := PublicKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	k, err := NewJWK(pub, alg)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// mustAlgs is NewAlgorithmSet for tests.
func mustAlgs(tb testing.TB, algs ...Algorithm) AlgorithmSet {
	tb.Helper()
	s, err := NewAlgorithmSet(algs...)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// testNow is the fixed clock of the tests.
func testNow() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }

// mustParse is Parse for tokens that must parse.
func mustParse(tb testing.TB, token string) *JWS {
	tb.Helper()
	j, err := Parse(token)
	if err != nil {
		tb.Fatalf("Parse: %v", err)
	}
	return j
}

// interopClaims are the claims of the golden claims.json, the same the
// differential tests of the interop module sign with every library.
func interopClaims() *Claims {
	return &Claims{
		Issuer:   "https://issuer.example",
		Subject:  "123",
		Audience: Audience{"api"},
		Expiry:   NewNumericDate(testNow().Add(time.Hour)),
		IssuedAt: NewNumericDate(testNow()),
		ID:       "jti-1",
		Extra:    map[string]any{"email": "user@example.com", "role": "admin", "userId": 123.0},
	}
}

// rsaJWKsEveryWay returns the JWK of the RSA key pair (priv, pub) made in
// each way a JWK comes to be: NewJWK of the public key, ParseJWK and
// ParseJWKS of its JSON, NewJWK of the private key, and that one's Public.
// Tests of the prepared modulus check each of them.
func rsaJWKsEveryWay(tb testing.TB, priv, pub any) map[string]*JWK {
	tb.Helper()
	jwk, err := NewJWK(pub, RS256)
	if err != nil {
		tb.Fatal(err)
	}
	wire, err := jwk.MarshalJSON()
	if err != nil {
		tb.Fatal(err)
	}
	parsed, err := ParseJWK(wire)
	if err != nil {
		tb.Fatal(err)
	}
	set, err := ParseJWKS([]byte(`{"keys":[` + string(wire) + `]}`))
	if err != nil {
		tb.Fatal(err)
	}
	privJWK, err := NewJWK(priv, RS256)
	if err != nil {
		tb.Fatal(err)
	}
	pubOfPriv, err := privJWK.Public()
	if err != nil {
		tb.Fatal(err)
	}
	return map[string]*JWK{"NewJWK": jwk, "ParseJWK": parsed, "ParseJWKS": set.Keys[0], "private": privJWK, "public of private": pubOfPriv}
}
