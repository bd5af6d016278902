package jose_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"filippo.io/bigmod"
	gojose "github.com/go-jose/go-jose/v4"
	gojosejwt "github.com/go-jose/go-jose/v4/jwt"
	golangjwt "github.com/golang-jwt/jwt/v5"

	"github.com/keyward/keyward/jose"
)

// BenchmarkVerify measures, for RS256, PS256, ES256 and EdDSA, the raw
// standard-library check (and, for RS256, the same check on a prepared
// modulus), keyward, golang-jwt v5 and go-jose v4 verifying the same token
// (see newBenchVerifiers): ns/op, B/op and allocs/op.
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

// BenchmarkVerifyRatio runs the verifiers of BenchmarkVerify in turns, in
// batches, and reports each one's cost as a multiple of the raw check
// ("keyward/raw" and so on), plus the raw check's cost per operation. For
// RS256 it also reports keyward's cost as a multiple of the raw check on a
// modulus prepared once with the standard library's own arithmetic
// ("keyward/raw-prepared"): keyward keeps each key prepared, with Montgomery
// arithmetic of its own, unless built with the keyward_nobigmod tag, while
// crypto/rsa rebuilds the modulus on every call, so keyward/raw-prepared
// shows what jose's arithmetic saves over the standard library's on a
// prepared key, and keyward/raw what it saves over crypto/rsa as called. On Linux the cost is
// the CPU time of the benchmark's own thread, so the ratios hold on a machine
// shared with other work; elsewhere it is wall time. Work the runtime does on
// other threads (background GC) is not counted, which flatters the verifiers
// that allocate more.
func BenchmarkVerifyRatio(b *testing.B) {
	const batch = 16
	for _, alg := range benchAlgorithms() {
		b.Run(string(alg), func(b *testing.B) {
			vs := newBenchVerifiers(b, alg)
			now, done := benchClock()
			defer done()
			total := make(map[string]time.Duration, len(vs))
			rounds := 0
			for b.Loop() {
				for j := range vs {
					v := vs[(rounds+j)%len(vs)] // rotate the order
					start := now()
					for range batch {
						v.verify(b)
					}
					total[v.name] += now() - start
				}
				rounds++
			}
			for _, v := range vs[1:] {
				b.ReportMetric(float64(total[v.name])/float64(total["raw"]), v.name+"/raw")
			}
			if prepared, ok := total["raw-prepared"]; ok {
				b.ReportMetric(float64(total["keyward"])/float64(prepared), "keyward/raw-prepared")
			}
			b.ReportMetric(float64(total["raw"].Nanoseconds())/float64(rounds*batch), "raw-cpu-ns/op")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func benchAlgorithms() []jose.Algorithm {
	return []jose.Algorithm{jose.RS256, jose.PS256, jose.ES256, jose.EdDSA}
}

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
//   - raw-prepared, for RS256 only: the same check on a modulus prepared
//     once with filippo.io/bigmod, the standard library's arithmetic
//     exported (see preparedRSAVerifier): the floor of a verifier that
//     keeps its keys prepared but uses the standard library's arithmetic;
//   - keyward: VerifyJWT with a Policy checking iss, aud and exp;
//   - golang-jwt: jwt.Parse with WithValidMethods, WithIssuer, WithAudience
//     and a Keyfunc returning the key;
//   - go-jose: jwt.ParseSigned, Claims and Validate with Expected.
func newBenchVerifiers(b *testing.B, alg jose.Algorithm) []benchVerifier {
	b.Helper()
	const (
		iss = "https://issuer.example"
		aud = "api"
	)
	key := signingKey(b, alg)
	s, err := jose.NewSigner(key, alg, "bench-key")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	tok, err := s.SignJWT("", &jose.Claims{
		Issuer:   iss,
		Subject:  "123",
		Audience: jose.Audience{aud},
		Expiry:   jose.NewNumericDate(now.Add(24 * time.Hour)),
		IssuedAt: jose.NewNumericDate(now),
		Extra:    map[string]any{"email": "user@example.com", "role": "admin"},
	})
	if err != nil {
		b.Fatal(err)
	}
	pub, err := jose.PublicKey(key)
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

	jk, err := jose.NewJWK(pub, alg)
	if err != nil {
		b.Fatal(err)
	}
	jk.KeyID = "bench-key"
	set := &jose.JWKS{Keys: []*jose.JWK{jk}}
	algs := mustAlgs(b, alg)
	policy := &jose.Policy{Issuers: []string{iss}, Audiences: []string{aud}}

	parser := golangjwt.NewParser(
		golangjwt.WithValidMethods([]string{string(alg)}),
		golangjwt.WithIssuer(iss),
		golangjwt.WithAudience(aud),
		golangjwt.WithExpirationRequired(),
	)
	keyfunc := func(*golangjwt.Token) (any, error) { return pub, nil }

	joseAlgs := []gojose.SignatureAlgorithm{gojose.SignatureAlgorithm(alg)}

	vs := []benchVerifier{
		{"raw", func(b *testing.B) {
			if !raw(input) {
				b.Fatal("raw check failed")
			}
		}},
	}
	if alg == jose.RS256 {
		prepared := preparedRSAVerifier(b, pub.(*rsa.PublicKey), sig)
		vs = append(vs, benchVerifier{"raw-prepared", func(b *testing.B) {
			if !prepared(input) {
				b.Fatal("raw check on the prepared modulus failed")
			}
		}})
	}
	return append(vs, []benchVerifier{
		{"keyward", func(b *testing.B) {
			if _, err := jose.VerifyJWT(tok, set, algs, policy); err != nil {
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
	}...)
}

// rawVerifier returns the standard library's check of sig for alg.
func rawVerifier(b *testing.B, alg jose.Algorithm, pub any, sig []byte) func(input []byte) bool {
	b.Helper()
	switch alg {
	case jose.RS256:
		k := pub.(*rsa.PublicKey)
		return func(input []byte) bool {
			h := sha256.Sum256(input)
			return rsa.VerifyPKCS1v15(k, crypto.SHA256, h[:], sig) == nil
		}
	case jose.PS256:
		k := pub.(*rsa.PublicKey)
		opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}
		return func(input []byte) bool {
			h := sha256.Sum256(input)
			return rsa.VerifyPSS(k, crypto.SHA256, h[:], sig, opts) == nil
		}
	case jose.ES256:
		k := pub.(*ecdsa.PublicKey)
		der := derSignature(b, sig[:32], sig[32:])
		return func(input []byte) bool {
			h := sha256.Sum256(input)
			return ecdsa.VerifyASN1(k, h[:], der)
		}
	case jose.EdDSA:
		k := pub.(ed25519.PublicKey)
		return func(input []byte) bool { return ed25519.Verify(k, input, sig) }
	}
	b.Fatalf("no raw check for %s", alg)
	return nil
}

// prefixSHA256 is the DER prefix of a SHA-256 DigestInfo, RFC 8017 §9.2
// note 1.
var prefixSHA256 = []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}

// preparedRSAVerifier returns the RS256 check of sig on pub's modulus
// prepared once: the hash of the signing input, s^e mod N with
// filippo.io/bigmod, and a comparison with the EMSA-PKCS1-v1_5 encoding of
// the hash (RFC 8017 §8.2.2), all but the hash laid out in advance. It is the
// arithmetic of rsa.VerifyPKCS1v15 without the modulus rebuilt on every call,
// and nothing more: the floor of a verifier that keeps its keys prepared.
func preparedRSAVerifier(tb testing.TB, pub *rsa.PublicKey, sig []byte) func(input []byte) bool {
	tb.Helper()
	m, err := bigmod.NewModulus(pub.N.Bytes())
	if err != nil {
		tb.Fatal(err)
	}
	k := m.Size()
	want := bytes.Repeat([]byte{0xff}, k)
	want[0], want[1] = 0, 1
	t := len(prefixSHA256) + sha256.Size
	want[k-t-1] = 0
	copy(want[k-t:], prefixSHA256)
	return func(input []byte) bool {
		h := sha256.Sum256(input)
		copy(want[k-sha256.Size:], h[:])
		s, err := bigmod.NewNat().SetBytes(sig, m)
		if err != nil {
			return false
		}
		return bytes.Equal(bigmod.NewNat().ExpShortVarTime(s, uint(pub.E), m).Bytes(m), want)
	}
}

// TestPreparedRSAVerifier checks the benchmark's prepared-modulus baseline:
// it accepts the signature of the input it was built for and refuses
// another input or a changed signature.
func TestPreparedRSAVerifier(t *testing.T) {
	t.Parallel()
	key := signingKey(t, jose.RS256)
	s, err := jose.NewSigner(key, jose.RS256, "k1")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.SignJWT("", &jose.Claims{Subject: "123", Expiry: jose.NewNumericDate(testNow().Add(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	i := strings.LastIndexByte(tok, '.')
	sig, err := b64.DecodeString(tok[i+1:])
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jose.PublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if !preparedRSAVerifier(t, pub.(*rsa.PublicKey), sig)([]byte(tok[:i])) {
		t.Fatal("a valid signature was refused")
	}
	if preparedRSAVerifier(t, pub.(*rsa.PublicKey), sig)([]byte(tok[:i-1])) {
		t.Fatal("the signature of another input was accepted")
	}
	sig[len(sig)-1] ^= 1
	if preparedRSAVerifier(t, pub.(*rsa.PublicKey), sig)([]byte(tok[:i])) {
		t.Fatal("a changed signature was accepted")
	}
}
