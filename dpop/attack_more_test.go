package dpop

import (
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"
)

// TestCheckAttacksMore widens the attack table of proofs with the forms of
// RFC 9449 §4.3 and §11 that are easy to get wrong: weak or malformed keys
// in "jwk", members that may appear twice, "typ" in other cases, extreme
// "jti", and "htu" written in the other forms of a URL.
func TestCheckAttacksMore(t *testing.T) {
	t.Parallel()
	ec := newEC(t, elliptic.P256())
	p384 := newEC(t, elliptic.P384())
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	jwk := publicJWK(t, ec)
	// jose makes no JWK of a weak key; this one is written by hand.
	weakJWK := `{"kty":"RSA","n":"` + b64.EncodeToString(weak.N.Bytes()) + `","e":"AQAB"}`
	// The same point with y off by one is not on the curve.
	y := ec.Y.Bytes()
	y[len(y)-1] ^= 1
	offCurve := `{"kty":"EC","crv":"P-256","x":"` + b64.EncodeToString(ec.X.FillBytes(make([]byte, 32))) + `","y":"` + b64.EncodeToString(append(make([]byte, 32-len(y)), y...)) + `"}`
	hdr := func(extra string) string {
		return `{"typ":"dpop+jwt","alg":"ES256"` + extra + `,"jwk":` + jwk + `}`
	}
	withMember := func(member string) string { // the jwk with one more member
		return strings.TrimSuffix(jwk, "}") + "," + member + "}"
	}

	tests := []struct {
		name string
		spec proofSpec
		raw  string // a payload written as it is, replacing the claims
		url  string
		want error // nil: accepted
	}{
		{name: "jwk with key_ops and alg", spec: proofSpec{jwk: withMember(`"key_ops":["verify"],"alg":"ES256"`)}},
		{name: "jti of 4 KiB", spec: proofSpec{claims: map[string]any{"jti": strings.Repeat("j", 4096)}}},
		{name: "htu with the default port", spec: proofSpec{claims: map[string]any{"htu": "https://api.example.com:443/orders/42"}}},
		{name: "htu with an empty port", spec: proofSpec{claims: map[string]any{"htu": "https://api.example.com:/orders/42"}}},
		{name: "htu with lower-case percent-encoding", url: "https://api.example.com/orders/%c3%a9", spec: proofSpec{claims: map[string]any{"htu": "https://api.example.com/orders/%C3%A9"}}},

		{name: "RSA key of 1024 bits", spec: proofSpec{key: weak, alg: "RS256", jwk: weakJWK}, want: ErrInvalidProof},
		{name: "EC point not on the curve", spec: proofSpec{jwk: offCurve}, want: ErrInvalidProof},
		{name: "ES256 with a P-384 key", spec: proofSpec{key: p384, alg: "ES256"}, want: ErrInvalidProof},
		{name: "ES384 header, P-256 key", spec: proofSpec{alg: "ES384"}, want: ErrInvalidProof},
		{name: "jwk with an x5c", spec: proofSpec{jwk: withMember(`"x5c":["AA"]`)}, want: nil},
		{name: "typ DPoP+JWT", spec: proofSpec{header: `{"typ":"DPoP+JWT","alg":"ES256","jwk":` + jwk + `}`}, want: ErrInvalidProof},
		{name: "typ twice", spec: proofSpec{header: `{"typ":"JWT","typ":"dpop+jwt","alg":"ES256","jwk":` + jwk + `}`}, want: ErrInvalidProof},
		{name: "alg twice", spec: proofSpec{header: `{"typ":"dpop+jwt","alg":"none","alg":"ES256","jwk":` + jwk + `}`}, want: ErrInvalidProof},
		{name: "kid in the header", spec: proofSpec{header: hdr(`,"kid":"k1"`)}},
		{name: "jku in the header", spec: proofSpec{header: hdr(`,"jku":"https://evil.example/jwks"`)}, want: ErrInvalidProof},
		{name: "htu twice", raw: `{"jti":"a","htm":"GET","htu":"https://evil.example.com/","htu":"` + testURL + `","iat":1800000000,"ath":"` + ATH(testToken) + `"}`, want: ErrInvalidProof},
		{name: "ath twice", raw: `{"jti":"a","htm":"GET","htu":"` + testURL + `","iat":1800000000,"ath":"x","ath":"` + ATH(testToken) + `"}`, want: ErrInvalidProof},
		{name: "htm in another case of member name", raw: `{"jti":"a","HTM":"GET","htu":"` + testURL + `","iat":1800000000,"ath":"` + ATH(testToken) + `"}`, want: ErrInvalidProof},
		{name: "jti empty", spec: proofSpec{claims: map[string]any{"jti": ""}}, want: ErrInvalidProof},
		{name: "jti a number", spec: proofSpec{claims: map[string]any{"jti": 7}}, want: ErrInvalidProof},
		{name: "jti over the proof size", spec: proofSpec{claims: map[string]any{"jti": strings.Repeat("j", DefaultMaxProofSize)}}, want: ErrInvalidProof},
		{name: "iat with a fraction past the edge", spec: proofSpec{claims: map[string]any{"iat": float64(t0.Unix()) - DefaultWindow.Seconds() - 0.5}}, want: ErrInvalidProof},
		{name: "htm not a string", spec: proofSpec{claims: map[string]any{"htm": []string{"GET"}}}, want: ErrInvalidProof},
		// One host in two forms: the ASCII one (IDNA 2008) is compared.
		{name: "htu in Unicode, request in punycode", url: "https://xn--bcher-kva.example/orders/42", spec: proofSpec{claims: map[string]any{"htu": "https://bücher.example/orders/42"}}},
		{name: "htu in punycode, request in Unicode", url: "https://bücher.example/orders/42", spec: proofSpec{claims: map[string]any{"htu": "https://xn--bcher-kva.example/orders/42"}}},
		{name: "htu in punycode, request to the ASCII look-alike host", url: "https://bucher.example/orders/42", spec: proofSpec{claims: map[string]any{"htu": "https://xn--bcher-kva.example/orders/42"}}, want: ErrInvalidProof},
		{name: "htu with a trailing slash", spec: proofSpec{claims: map[string]any{"htu": testURL + "/"}}, want: ErrInvalidProof},
		{name: "htu with a trailing dot in the host", spec: proofSpec{claims: map[string]any{"htu": "https://api.example.com./orders/42"}}, want: ErrInvalidProof},
		{name: "htu with a backslash", spec: proofSpec{claims: map[string]any{"htu": `https://api.example.com\orders/42`}}, want: ErrInvalidProof},
		{name: "htu with a dot segment", spec: proofSpec{claims: map[string]any{"htu": "https://api.example.com/x/../orders/42"}}, want: ErrInvalidProof},
		{name: "htu of another scheme", spec: proofSpec{claims: map[string]any{"htu": "wss://api.example.com/orders/42"}}, want: ErrInvalidProof},
		{name: "htu with a user info and an at in the path", spec: proofSpec{claims: map[string]any{"htu": "https://evil.example@api.example.com/orders/42"}}, want: ErrInvalidProof},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newChecker(t, Config{})
			var proof string
			if tt.raw != "" {
				proof = signRaw(t, ec, "ES256", `{"typ":"dpop+jwt","alg":"ES256","jwk":`+jwk+`}`, tt.raw)
			} else {
				proof = tt.spec.build(t, ec)
			}
			target := testURL
			if tt.url != "" {
				target = tt.url
			}
			p, err := c.Check(proof, "GET", mustURL(t, target), testToken)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) || p != nil {
				t.Fatalf("Check = %v, %v; want %v", p, err, tt.want)
			}
			t.Log(err)
		})
	}
}

// TestVerifyRecord: Verify makes the checks of Check and records nothing,
// so a proof it accepted passes again until Record remembers it; Record
// then refuses the same proof as a replay, and a full cache refuses new
// ones.
func TestVerifyRecord(t *testing.T) {
	t.Parallel()
	ec := newEC(t, elliptic.P256())
	c := newChecker(t, Config{ReplayCacheSize: 1})
	target := mustURL(t, testURL)
	proof := proofSpec{}.build(t, ec)
	var p *Proof
	for i := range 2 {
		var err error
		if p, err = c.Verify(proof, "GET", target, testToken); err != nil {
			t.Fatalf("Verify %d: %v", i+1, err)
		}
	}
	if _, err := c.Verify(proof, "POST", target, testToken); !errors.Is(err, ErrInvalidProof) {
		t.Fatalf("Verify for another method: %v, want ErrInvalidProof", err)
	}
	if n := c.replay.len(); n != 0 {
		t.Fatalf("Verify recorded %d proofs", n)
	}
	if err := c.Record(p); err != nil {
		t.Fatalf("Record: %v", err)
	}
	if err := c.Record(p); !errors.Is(err, ErrReplay) {
		t.Fatalf("Record again: %v, want ErrReplay", err)
	}
	if _, err := c.Check(proof, "GET", target, testToken); !errors.Is(err, ErrReplay) {
		t.Fatalf("Check of a recorded proof: %v, want ErrReplay", err)
	}
	other, err := c.Verify(proofSpec{claims: map[string]any{"jti": "other"}}.build(t, ec), "GET", target, testToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Record(other); !errors.Is(err, ErrReplayCacheFull) {
		t.Fatalf("Record into a full cache: %v, want ErrReplayCacheFull", err)
	}
	if err := c.Record(nil); err == nil {
		t.Fatal("Record(nil) succeeded")
	}
}
