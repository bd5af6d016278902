package jose

import (
	"errors"
	"testing"
	"time"
)

func TestSignVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	for _, alg := range Algorithms() {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			key := signingKey(t, alg)
			s, err := NewSigner(key, alg, "k1")
			if err != nil {
				t.Fatal(err)
			}
			claims := &Claims{
				Issuer:   "https://issuer.example",
				Subject:  "123",
				Audience: Audience{"api"},
				Expiry:   NewNumericDate(testNow().Add(time.Hour)),
				IssuedAt: NewNumericDate(testNow()),
				Extra:    map[string]any{"userId": 123.0, "email": "user@example.com", "role": "admin"},
			}
			tok, err := s.SignJWT("", claims)
			if err != nil {
				t.Fatal(err)
			}
			jk := verifyingJWK(t, key, alg)
			jk.KeyID = "k1"
			policy := &Policy{Issuers: []string{"https://issuer.example"}, Audiences: []string{"api"}, Now: testNow}
			got, err := VerifyJWT(tok, &JWKS{Keys: []*JWK{jk}}, mustAlgs(t, alg), policy)
			if err != nil {
				t.Fatal(err)
			}
			if got.Header.Algorithm != alg || got.Header.KeyID != "k1" || got.Header.Type != "JWT" {
				t.Errorf("header = %+v", got.Header)
			}
			if got.Claims.Subject != "123" || got.Claims.String("email") != "user@example.com" || got.Claims.Extra["userId"] != 123.0 {
				t.Errorf("claims = %+v", got.Claims)
			}
			if got.Key != jk {
				t.Errorf("Key = %p, want %p", got.Key, jk)
			}
			// One hour later the same token has expired.
			policy.Now = func() time.Time { return testNow().Add(time.Hour) }
			if _, err := VerifyJWT(tok, &JWKS{Keys: []*JWK{jk}}, mustAlgs(t, alg), policy); !errors.Is(err, ErrExpired) {
				t.Errorf("an hour later: %v, want ErrExpired", err)
			}
			if alg.Symmetric() {
				return
			}
			// The public JWKS round-trips through JSON and still verifies.
			pj, err := jk.Public()
			if err != nil {
				t.Fatal(err)
			}
			b, err := (&JWKS{Keys: []*JWK{pj}}).MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			set, err := ParseJWKS(b)
			if err != nil || len(set.Keys) != 1 || len(set.Skipped) != 0 {
				t.Fatalf("ParseJWKS(%s) = %+v, %v", b, set, err)
			}
			if _, err := VerifyJWT(tok, set, mustAlgs(t, alg), &Policy{Now: testNow}); err != nil {
				t.Errorf("with the parsed JWKS: %v", err)
			}
		})
	}
}

func TestGenerateKey(t *testing.T) {
	t.Parallel()
	for _, alg := range []Algorithm{RS256, ES256, ES384, ES512, EdDSA, HS256, HS512} {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			k, err := GenerateKey(alg, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			if d, err := DefaultAlgorithm(k); err != nil || d != alg && !(alg == HS512 && d == HS256) {
				t.Errorf("DefaultAlgorithm = %s, %v", d, err)
			}
			s, err := NewSigner(k, alg, "")
			if err != nil {
				t.Fatal(err)
			}
			tok, err := s.SignJWT("", &Claims{Expiry: NewNumericDate(testNow().Add(time.Minute))})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := VerifyJWT(tok, &JWKS{Keys: []*JWK{verifyingJWK(t, k, alg)}}, mustAlgs(t, alg), &Policy{Now: testNow}); err != nil {
				t.Error(err)
			}
		})
	}
	if _, err := GenerateKey(RS256, 1024, nil); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("GenerateKey(RS256, 1024) = %v, want ErrInvalidKey", err)
	}
	if _, err := GenerateKey("none", 0, nil); !errors.Is(err, ErrAlgorithmNotAllowed) {
		t.Errorf("GenerateKey(none) = %v, want ErrAlgorithmNotAllowed", err)
	}
}
