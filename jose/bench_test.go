package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	gojose "github.com/go-jose/go-jose/v4"
	gojosejwt "github.com/go-jose/go-jose/v4/jwt"
	golangjwt "github.com/golang-jwt/jwt/v5"
)

// BenchmarkVerify measures, for RS256, PS256, ES256 and EdDSA, the raw
// standard-library check, keyward, golang-jwt v5 and go-jose v4 verifying the
// same token (see newBenchVerifiers): ns/op, B/op and allocs/op.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range benchAlgorithms() {
		for _, v := range newBenchVerifiers(b, alg) {
			b.Run(string(alg)+"/"+v.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					v.verify(b)
				}
			})
		}
	}
}

// BenchmarkVerifyRatio runs the four verifiers of BenchmarkVerify in turns,
// in batches, and reports each one's cost as a multiple of the raw check
// ("keyward/raw" and so on), plus the raw check's cost per operation. On
// Linux the cost is the CPU time of the benchmark's own thread, so the
// ratios hold on a machine shared with other work; elsewhere it is wall
// time. Work the runtime does on other threads (background GC) is not
// counted, which flatters the verifiers that allocate more.
func BenchmarkVerifyRatio(b *testing.B) {
	const batch = 16
	for _, alg := range benchAlgorithms() {
		b.Run(string(alg), func(b *testing.B) {
			vs := newBenchVerifiers(b, alg)
			now, done := benchClock()
			defer done()
			total := make([]time.Duration, len(vs))
			rounds := 0
			for b.Loop() {
				for j := range vs {
					k := (rounds + j) % len(vs) // rotate the order
					start := now()
					for range batch {
						vs[k].verify(b)
					}
					total[k] += now() - start
				}
				rounds++
			}
			for k, v := range vs[1:] {
				b.ReportMetric(float64(total[k+1])/float64(total[0]), v.name+"/raw")
			}
			b.ReportMetric(float64(total[0].Nanoseconds())/float64(rounds*batch), "raw-cpu-ns/op")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func benchAlgorithms() []Algorithm { return []Algorithm{RS256, PS256, ES256, EdDSA} }

// benchVerifier is one way of verifying the benchmark token; the first of a
// list is the raw check.
type benchVerifier struct {
	name   string
	verify func(b *testing.B)
}

// newBenchVerifiers returns, for alg, in this order:
//
//   - raw: the standard library's check of the same signing input and
//     signature (hash plus rsa.VerifyPKCS1v15, rsa.VerifyPSS,
//     ecdsa.VerifyASN1 of the DER form or ed25519.Verify), public key
//     already parsed: the floor any verifier pays;
//   - keyward: VerifyJWT with a Policy checking iss, aud and exp;
//   - golang-jwt: jwt.Parse with WithValidMethods, WithIssuer, WithAudience
//     and a Keyfunc returning the key;
//   - go-jose: jwt.ParseSigned, Claims and Validate with Expected.
func newBenchVerifiers(b *testing.B, alg Algorithm) []benchVerifier {
	b.Helper()
	const (
		iss = "https://issuer.example"
		aud = "api"
	)
	key := signingKey(b, alg)
	s, err := NewSigner(key, alg, "bench-key")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	tok, err := s.SignJWT("", &Claims{
		Issuer:   iss,
		Subject:  "123",
		Audience: Audience{aud},
		Expiry:   NewNumericDate(now.Add(24 * time.Hour)),
		IssuedAt: NewNumericDate(now),
		Extra:    map[string]any{"email": "user@example.com", "role": "admin"},
	})
	if err != nil {
		b.Fatal(err)
	}
	pub, err := PublicKey(key)
	if err != nil {
		b.Fatal(err)
	}
	i := strings.LastIndexByte(tok, '.')
	input := []byte(tok[:i])
	sig, err := b64.DecodeString(tok[i+1:])
	if err != nil {
		b.Fatal(err)
	}
	raw := rawVerifier(b, alg, pub, sig)

	jk, err := NewJWK(pub, alg)
	if err != nil {
		b.Fatal(err)
	}
	jk.KeyID = "bench-key"
	set := &JWKS{Keys: []*JWK{jk}}
	algs := mustAlgs(b, alg)
	policy := &Policy{Issuers: []string{iss}, Audiences: []string{aud}}

	parser := golangjwt.NewParser(
		golangjwt.WithValidMethods([]string{string(alg)}),
		golangjwt.WithIssuer(iss),
		golangjwt.WithAudience(aud),
		golangjwt.WithExpirationRequired(),
	)
	keyfunc := func(*golangjwt.Token) (any, error) { return pub, nil }

	joseAlgs := []gojose.SignatureAlgorithm{gojose.SignatureAlgorithm(alg)}

	return []benchVerifier{
		{"raw", func(b *testing.B) {
			if !raw(input) {
				b.Fatal("raw check failed")
			}
		}},
		{"keyward", func(b *testing.B) {
			if _, err := VerifyJWT(tok, set, algs, policy); err != nil {
				b.Fatal(err)
			}
		}},
		{"golang-jwt", func(b *testing.B) {
			if _, err := parser.Parse(tok, keyfunc); err != nil {
				b.Fatal(err)
			}
		}},
		{"go-jose", func(b *testing.B) {
			t, err := gojosejwt.ParseSigned(tok, joseAlgs)
			if err != nil {
				b.Fatal(err)
			}
			var c gojosejwt.Claims
			if err := t.Claims(pub, &c); err != nil {
				b.Fatal(err)
			}
			if err := c.Validate(gojosejwt.Expected{Issuer: iss, AnyAudience: gojosejwt.Audience{aud}, Time: time.Now()}); err != nil {
				b.Fatal(err)
			}
		}},
	}
}

// rawVerifier returns the standard library's check of sig for alg.
func rawVerifier(b *testing.B, alg Algorithm, pub any, sig []byte) func(input []byte) bool {
	b.Helper()
	switch alg {
	case RS256:
		k := pub.(*rsa.PublicKey)
		return func(input []byte) bool {
			h := sha256.Sum256(input)
			return rsa.VerifyPKCS1v15(k, crypto.SHA256, h[:], sig) == nil
		}
	case PS256:
		k := pub.(*rsa.PublicKey)
		opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}
		return func(input []byte) bool {
			h := sha256.Sum256(input)
			return rsa.VerifyPSS(k, crypto.SHA256, h[:], sig, opts) == nil
		}
	case ES256:
		k := pub.(*ecdsa.PublicKey)
		der := appendDERSig(nil, sig[:32], sig[32:])
		return func(input []byte) bool {
			h := sha256.Sum256(input)
			return ecdsa.VerifyASN1(k, h[:], der)
		}
	case EdDSA:
		k := pub.(ed25519.PublicKey)
		return func(input []byte) bool { return ed25519.Verify(k, input, sig) }
	}
	b.Fatalf("no raw check for %s", alg)
	return nil
}

// benchToken returns an RS256 token with the claims of BenchmarkVerify.
func benchToken(b *testing.B) string {
	b.Helper()
	s, err := NewSigner(signingKey(b, RS256), RS256, "bench-key")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	tok, err := s.SignJWT("", &Claims{
		Issuer: "https://issuer.example", Subject: "123", Audience: Audience{"api"},
		Expiry: NewNumericDate(now.Add(24 * time.Hour)), IssuedAt: NewNumericDate(now),
		Extra: map[string]any{"email": "user@example.com", "role": "admin"},
	})
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

// BenchmarkParse measures what VerifyJWT adds to the signature check:
// splitting, base64 and the header.
func BenchmarkParse(b *testing.B) {
	tok := benchToken(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseClaims measures the claims decoding of VerifyJWT.
func BenchmarkParseClaims(b *testing.B) {
	j, err := Parse(benchToken(b))
	if err != nil {
		b.Fatal(err)
	}
	payload := j.UnsafePayload()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseClaims(payload); err != nil {
			b.Fatal(err)
		}
	}
}
