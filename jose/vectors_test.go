package jose

import (
	"crypto"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// rfcVector is a signed example from an RFC, stored in testdata/rfc.
type rfcVector struct {
	Source        string          `json:"source"`
	Alg           Algorithm       `json:"alg"`
	JWK           json.RawMessage `json:"jwk"`
	Protected     string          `json:"protected"`
	Payload       string          `json:"payload"`
	Token         string          `json:"token"`
	Deterministic bool            `json:"deterministic"`
}

func loadVector(t *testing.T, name string) rfcVector {
	t.Helper()
	var v rfcVector
	if err := json.Unmarshal(readTestdata(t, "rfc", name), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestRFCVectors verifies the RFC examples. Their "exp" lies in 2011, so the
// signature is checked with JWS.Verify and VerifyKey, not with a time policy;
// for the deterministic algorithms signing must reproduce the exact token.
func TestRFCVectors(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"rfc7515-a2-rs256.json", "rfc7515-a3-es256.json", "rfc8037-a4-ed25519.json"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			v := loadVector(t, name)
			priv, err := ParseJWK(v.JWK)
			if err != nil {
				t.Fatalf("%s: private JWK: %v", v.Source, err)
			}
			pub, err := priv.Public()
			if err != nil {
				t.Fatal(err)
			}
			j, err := Parse(v.Token)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if j.Header.Algorithm != v.Alg {
				t.Errorf("alg = %q, want %q", j.Header.Algorithm, v.Alg)
			}
			if got := string(j.UnsafePayload()); got != v.Payload {
				t.Errorf("payload = %q, want %q", got, v.Payload)
			}
			algs := mustAlgs(t, v.Alg)
			if err := j.VerifyKey(pub, algs); err != nil {
				t.Errorf("VerifyKey: %v", err)
			}
			if k, err := j.Verify(&JWKS{Keys: []*JWK{pub}}, algs); err != nil || k != pub {
				t.Errorf("Verify = %v, %v; want the RFC key", k, err)
			}
			// The exp of 2011 fails a time policy with the right category;
			// the Ed25519 example is no JWT at all.
			wantPolicy := ErrExpired
			if v.Alg == EdDSA {
				wantPolicy = ErrMalformed
			}
			if _, err := VerifyJWT(v.Token, &JWKS{Keys: []*JWK{pub}}, algs, &Policy{Now: testNow}); !errors.Is(err, wantPolicy) {
				t.Errorf("VerifyJWT with today's clock = %v, want %v", err, wantPolicy)
			}
			// A changed payload must not verify.
			h64, rest, _ := strings.Cut(v.Token, ".")
			_, s64, _ := strings.Cut(rest, ".")
			tampered := h64 + "." + b64.EncodeToString([]byte(v.Payload+" ")) + "." + s64
			if err := mustParse(t, tampered).VerifyKey(pub, algs); !errors.Is(err, ErrSignature) {
				t.Errorf("tampered token: %v, want ErrSignature", err)
			}
			if hdr, err := b64.DecodeString(h64); err != nil || string(hdr) != v.Protected {
				t.Errorf("protected header = %q, %v; want %q", hdr, err, v.Protected)
			}
			if !v.Deterministic {
				return
			}
			s, err := NewSigner(priv.Key, v.Alg, "")
			if err != nil {
				t.Fatal(err)
			}
			// Sign writes its own header, so sign the RFC's signing input
			// directly to reproduce the exact bytes.
			sig, err := s.signRaw(j.signingInput)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(j.signingInput) + "." + b64.EncodeToString(sig); got != v.Token {
				t.Errorf("signing the RFC input gave\n%s\nwant\n%s", got, v.Token)
			}
		})
	}
}

// TestSignReproducesRFC8037 checks that Sign itself, with its own header
// encoding, produces the RFC 8037 A.4 token byte for byte.
func TestSignReproducesRFC8037(t *testing.T) {
	t.Parallel()
	v := loadVector(t, "rfc8037-a4-ed25519.json")
	priv, err := ParseJWK(v.JWK)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(priv.Key, EdDSA, "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Sign("", []byte(v.Payload))
	if err != nil {
		t.Fatal(err)
	}
	if got != v.Token {
		t.Errorf("Sign =\n%s\nwant\n%s", got, v.Token)
	}
}

func TestRFC7638Thumbprint(t *testing.T) {
	t.Parallel()
	var v struct {
		JWK        json.RawMessage `json:"jwk"`
		Thumbprint string          `json:"thumbprint"`
	}
	if err := json.Unmarshal(readTestdata(t, "rfc", "rfc7638-3.1-thumbprint.json"), &v); err != nil {
		t.Fatal(err)
	}
	k, err := ParseJWK(v.JWK)
	if err != nil {
		t.Fatal(err)
	}
	if k.KeyID != "2011-04-29" || k.Algorithm != RS256 {
		t.Errorf("kid, alg = %q, %q", k.KeyID, k.Algorithm)
	}
	got, err := k.Thumbprint()
	if err != nil {
		t.Fatal(err)
	}
	if got != v.Thumbprint {
		t.Errorf("Thumbprint = %s, want %s", got, v.Thumbprint)
	}
	if got, _ := Thumbprint(k.Key); got != v.Thumbprint {
		t.Errorf("package Thumbprint = %s, want %s", got, v.Thumbprint)
	}
	// NewJWK uses the thumbprint as the key ID.
	nk, err := NewJWK(k.Key, "")
	if err != nil {
		t.Fatal(err)
	}
	if nk.KeyID != v.Thumbprint {
		t.Errorf("NewJWK kid = %s, want %s", nk.KeyID, v.Thumbprint)
	}
	// SHA-256 over the canonical form of RFC 7638 §3.1 directly.
	h, err := k.ThumbprintHash(crypto.SHA256)
	if err != nil || b64.EncodeToString(h) != v.Thumbprint {
		t.Errorf("ThumbprintHash = %x, %v", h, err)
	}
}
