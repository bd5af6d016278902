//go:build keyward_nobigmod

package jose

import (
	"crypto"
	"testing"
	"time"
)

// TestRSANotPrepared checks the keyward_nobigmod build: no JWK holds a
// prepared RSA key, whichever way it was made, and RS* tokens still verify,
// through crypto/rsa, while a changed signature does not.
func TestRSANotPrepared(t *testing.T) {
	t.Parallel()
	priv := signingKey(t, RS256)
	for name, k := range rsaJWKsEveryWay(t, priv, priv.(crypto.Signer).Public()) {
		if k.rsa != nil {
			t.Errorf("%s: the RSA key is prepared", name)
		}
	}
	for _, alg := range []Algorithm{RS256, RS384, RS512} {
		s, err := NewSigner(priv, alg, "k1")
		if err != nil {
			t.Fatal(err)
		}
		tok, err := s.SignJWT("", &Claims{Subject: "123", Expiry: NewNumericDate(testNow().Add(time.Hour))})
		if err != nil {
			t.Fatal(err)
		}
		k := verifyingJWK(t, priv, alg)
		k.KeyID = "k1"
		keys := &JWKS{Keys: []*JWK{k}}
		if _, err := VerifyJWT(tok, keys, mustAlgs(t, alg), &Policy{Now: testNow}); err != nil {
			t.Errorf("%s: %v", alg, err)
		}
		b := []byte(tok)
		if i := len(b) - 3; b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		if _, err := VerifyJWT(string(b), keys, mustAlgs(t, alg), &Policy{Now: testNow}); err == nil {
			t.Errorf("%s: a changed signature verified", alg)
		}
	}
}
