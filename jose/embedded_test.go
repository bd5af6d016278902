package jose

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"testing"
)

func TestParseEmbedded(t *testing.T) {
	t.Parallel()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(priv, ES256, "")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.SignEmbedded("dpop+jwt", []byte(`{"jti":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	j, k, err := ParseEmbedded(tok, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !k.IsPublic() || !k.Key.(*ecdsa.PublicKey).Equal(&priv.PublicKey) || j.Header.Type != "dpop+jwt" {
		t.Fatalf("ParseEmbedded = %+v, %+v", j.Header, k)
	}
	if err := j.VerifyKey(k, mustSet(t, ES256)); err != nil {
		t.Fatalf("VerifyKey: %v", err)
	}
	// Parse keeps refusing an embedded key.
	if _, err := Parse(tok); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Parse of a JWS with jwk: %v", err)
	}
	if _, _, err := ParseEmbedded(tok, len(tok)-1); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ParseEmbedded over the limit: %v", err)
	}
	// A JWS without "jwk", or with a private one, is refused.
	plain, err := s.Sign("dpop+jwt", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ParseEmbedded(plain, 0); !errors.Is(err, ErrMalformed) {
		t.Errorf("ParseEmbedded without jwk: %v", err)
	}
	privJWK, err := NewJWK(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	pj, err := privJWK.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	bad := b64.EncodeToString([]byte(`{"alg":"ES256","jwk":`+string(pj)+`}`)) + ".e30.AAAA"
	if _, _, err := ParseEmbedded(bad, 0); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("ParseEmbedded with a private jwk: %v", err)
	}
	if _, err := (&Signer{pub: SharedSecret(make([]byte, 32)), alg: HS256}).SignEmbedded("", nil); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("SignEmbedded with a shared secret: %v", err)
	}
}

func mustSet(t *testing.T, algs ...Algorithm) AlgorithmSet {
	t.Helper()
	s, err := NewAlgorithmSet(algs...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
