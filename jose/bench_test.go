package jose

import (
	"testing"
	"time"
)

// The comparisons with the standard library's raw check, golang-jwt and
// go-jose (BenchmarkVerify, BenchmarkVerifyRatio) live in the interop
// module, which alone requires those libraries.

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
