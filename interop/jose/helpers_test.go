package jose_test

import (
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyward/keyward/jose"
)

// b64 is the base64url encoding of JOSE, without padding.
var b64 = base64.RawURLEncoding

// testKey returns the private key in the main module's jose/testdata/keys,
// made once with openssl so that no test waits on RSA key generation.
func testKey(tb testing.TB, name string) any {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "jose", "testdata", "keys", name))
	if err != nil {
		tb.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		tb.Fatalf("%s: no PEM block", name)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return k
}

// testSecret returns a fixed 64-byte shared secret, long enough for HS512.
func testSecret() jose.SharedSecret {
	return jose.SharedSecret("keyward-test-secret-0123456789abcdef-0123456789abcdef-0123456789")
}

// signingKey returns a test private key (or the shared secret) for alg.
func signingKey(tb testing.TB, alg jose.Algorithm) any {
	tb.Helper()
	switch alg {
	case jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512:
		return testKey(tb, "rsa2048.pem")
	case jose.ES256:
		return testKey(tb, "p256.pem")
	case jose.ES384:
		return testKey(tb, "p384.pem")
	case jose.ES512:
		return testKey(tb, "p521.pem")
	case jose.EdDSA:
		return testKey(tb, "ed25519.pem")
	case jose.HS256, jose.HS384, jose.HS512:
		return testSecret()
	}
	tb.Fatalf("no test key for %q", alg)
	return nil
}

// verifyingJWK returns the JWK that verifies tokens signed with key for alg:
// the public half for asymmetric keys, the secret itself for HS*.
func verifyingJWK(tb testing.TB, key any, alg jose.Algorithm) *jose.JWK {
	tb.Helper()
	if s, ok := key.(jose.SharedSecret); ok {
		k, err := jose.NewJWK(s, alg)
		if err != nil {
			tb.Fatal(err)
		}
		return k
	}
	pub, err := jose.PublicKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	k, err := jose.NewJWK(pub, alg)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// mustAlgs is jose.NewAlgorithmSet for tests.
func mustAlgs(tb testing.TB, algs ...jose.Algorithm) jose.AlgorithmSet {
	tb.Helper()
	s, err := jose.NewAlgorithmSet(algs...)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// testNow is the fixed clock of the tests.
func testNow() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }

// derSignature is the ASN.1 DER form (RFC 3279 §2.2.3) of the ECDSA
// signature r ‖ s, as ecdsa.VerifyASN1 takes it.
func derSignature(tb testing.TB, r, s []byte) []byte {
	tb.Helper()
	der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(r), new(big.Int).SetBytes(s)})
	if err != nil {
		tb.Fatal(err)
	}
	return der
}
