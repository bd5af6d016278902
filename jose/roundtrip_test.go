package jose

import (
	"testing"
	"time"
)

func TestSignVerifyRoundTrip(t *testing.T) {
	for _, alg := range Algorithms() {
		k, err := GenerateKey(alg, 0, nil)
		if err != nil {
			t.Fatal(alg, err)
		}
		s, err := NewSigner(k, alg, "k1")
		if err != nil {
			t.Fatal(alg, err)
		}
		tok, err := s.SignJWT("", &Claims{Issuer: "i", Audience: Audience{"a"}, Expiry: NewNumericDate(time.Now().Add(time.Hour)), Extra: map[string]any{"userId": 123.0}})
		if err != nil {
			t.Fatal(alg, err)
		}
		jk, err := NewJWK(s.Public(), alg)
		if err != nil {
			t.Fatal(alg, err)
		}
		jk.KeyID = "k1"
		if alg.Symmetric() {
			jk.Key = k
		}
		set, _ := NewAlgorithmSet(alg)
		tk, err := VerifyJWT(tok, &JWKS{Keys: []*JWK{jk}}, set, &Policy{Issuers: []string{"i"}, Audiences: []string{"a"}})
		if err != nil {
			t.Fatal(alg, err)
		}
		t.Log(alg, tk.Claims.Extra, len(tok))
		if !alg.Symmetric() {
			pj, _ := jk.Public()
			b, _ := (&JWKS{Keys: []*JWK{pj}}).MarshalJSON()
			set2, err := ParseJWKS(b)
			if err != nil || len(set2.Keys) != 1 {
				t.Fatal(alg, err, string(b))
			}
		}
	}
}
