package jose

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestClaimsJSON pins the wire form of the claims: registered claims first,
// private claims as top-level members in sorted order, a single audience as
// a string.
func TestClaimsJSON(t *testing.T) {
	t.Parallel()
	got, err := interopClaims().MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "golden", "claims.json")
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, bytes.TrimSpace(want)) {
		t.Errorf("claims JSON =\n%s\nwant (%s)\n%s", got, golden, want)
	}
	c, err := ParseClaims(got)
	if err != nil {
		t.Fatal(err)
	}
	if c.String("email") != "user@example.com" || c.Extra["userId"] != 123.0 || len(c.Extra) != 3 {
		t.Errorf("read back Extra = %v", c.Extra)
	}
}

func TestClaimsMarshalRefusesShadowing(t *testing.T) {
	t.Parallel()
	c := interopClaims()
	c.Extra["exp"] = 1.0
	if b, err := c.MarshalJSON(); err == nil {
		t.Errorf("a private claim named exp was written: %s", b)
	}
}

func TestClaimsAccessors(t *testing.T) {
	t.Parallel()
	c, err := ParseClaims([]byte(`{"iss":"i","sub":"s","aud":["a","b"],"exp":10,"nbf":5,"iat":4.9,"jti":"j",
		"scope":"read write","roles":["admin",1,"user"],"email":"e","n":1.5,"obj":{"k":"v"}}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		str     string
		strs    []string
		present bool
	}{
		{name: "iss", str: "i", strs: []string{"i"}, present: true},
		{name: "sub", str: "s", strs: []string{"s"}, present: true},
		{name: "aud", strs: []string{"a", "b"}, present: true},
		{name: "jti", str: "j", strs: []string{"j"}, present: true},
		{name: "exp", present: true},
		{name: "nbf", present: true},
		{name: "iat", present: true},
		{name: "scope", str: "read write", strs: []string{"read", "write"}, present: true},
		{name: "roles", strs: []string{"admin", "user"}, present: true},
		{name: "email", str: "e", strs: []string{"e"}, present: true},
		{name: "n", present: true},
		{name: "obj", present: true},
		{name: "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, ok := c.Get(tt.name); ok != tt.present {
				t.Errorf("Get present = %v", ok)
			}
			if got := c.String(tt.name); got != tt.str {
				t.Errorf("String = %q, want %q", got, tt.str)
			}
			if got := c.Strings(tt.name); !slices.Equal(got, tt.strs) {
				t.Errorf("Strings = %q, want %q", got, tt.strs)
			}
		})
	}
	if c.IssuedAt != 4 {
		t.Errorf("fractional iat = %d, want 4", c.IssuedAt)
	}
	if v, _ := c.Get("exp"); v != 10.0 {
		t.Errorf("Get(exp) = %v", v)
	}
}

func TestPolicyValidate(t *testing.T) {
	t.Parallel()
	now := testNow()
	at := func(d time.Duration) NumericDate { return NewNumericDate(now.Add(d)) }
	tests := []struct {
		name   string
		policy Policy
		header Header
		claims Claims
		want   error
	}{
		{name: "valid", claims: Claims{Expiry: at(time.Minute)}},
		{name: "no exp", claims: Claims{}, want: ErrMissingClaim},
		{name: "exp now", claims: Claims{Expiry: at(0)}, want: ErrExpired},
		{name: "exp passed", claims: Claims{Expiry: at(-time.Second)}, want: ErrExpired},
		{name: "exp within leeway", policy: Policy{Leeway: 30 * time.Second}, claims: Claims{Expiry: at(-29 * time.Second)}},
		{name: "exp beyond leeway", policy: Policy{Leeway: 30 * time.Second}, claims: Claims{Expiry: at(-30 * time.Second)}, want: ErrExpired},
		{name: "nbf future", claims: Claims{Expiry: at(time.Hour), NotBefore: at(time.Minute)}, want: ErrNotYetValid},
		{name: "nbf within leeway", policy: Policy{Leeway: time.Minute}, claims: Claims{Expiry: at(time.Hour), NotBefore: at(time.Minute)}},
		{name: "nbf now", claims: Claims{Expiry: at(time.Hour), NotBefore: at(0)}},
		{name: "iat future", claims: Claims{Expiry: at(time.Hour), IssuedAt: at(time.Minute)}, want: ErrNotYetValid},
		{name: "issuer", policy: Policy{Issuers: []string{"a", "b"}}, claims: Claims{Issuer: "b", Expiry: at(time.Hour)}},
		{name: "issuer wrong", policy: Policy{Issuers: []string{"a"}}, claims: Claims{Issuer: "A", Expiry: at(time.Hour)}, want: ErrIssuer},
		{name: "issuer missing", policy: Policy{Issuers: []string{"a"}}, claims: Claims{Expiry: at(time.Hour)}, want: ErrIssuer},
		{name: "audience one of", policy: Policy{Audiences: []string{"x", "api"}}, claims: Claims{Audience: Audience{"other", "api"}, Expiry: at(time.Hour)}},
		{name: "audience wrong", policy: Policy{Audiences: []string{"api"}}, claims: Claims{Audience: Audience{"apis"}, Expiry: at(time.Hour)}, want: ErrAudience},
		{name: "audience missing", policy: Policy{Audiences: []string{"api"}}, claims: Claims{Expiry: at(time.Hour)}, want: ErrAudience},
		{name: "type", policy: Policy{Types: []string{"at+jwt"}}, header: Header{Type: "application/AT+JWT"}, claims: Claims{Expiry: at(time.Hour)}},
		{name: "type wrong", policy: Policy{Types: []string{"at+jwt"}}, header: Header{Type: "JWT"}, claims: Claims{Expiry: at(time.Hour)}, want: ErrType},
		{name: "type missing", policy: Policy{Types: []string{"at+jwt"}}, claims: Claims{Expiry: at(time.Hour)}, want: ErrType},
		{name: "required present", policy: Policy{Required: []string{"sub", "role"}}, claims: Claims{Subject: "s", Expiry: at(time.Hour), Extra: map[string]any{"role": "x"}}},
		{name: "required missing", policy: Policy{Required: []string{"sub", "role"}}, claims: Claims{Subject: "s", Expiry: at(time.Hour)}, want: ErrMissingClaim},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := tt.policy
			p.Now = testNow
			err := p.Validate(&tt.header, &tt.claims)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Validate = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestPolicyMessages(t *testing.T) {
	t.Parallel()
	p := &Policy{Audiences: []string{"y"}, Now: testNow}
	err := p.Validate(&Header{}, &Claims{Expiry: NewNumericDate(testNow().Add(-192 * time.Second))})
	if err == nil || err.Error() != "jose: token expired: expired 3m12s ago" {
		t.Errorf("expired message = %v", err)
	}
	err = p.Validate(&Header{}, &Claims{Audience: Audience{"x"}, Expiry: NewNumericDate(testNow().Add(time.Hour))})
	if err == nil || err.Error() != "jose: audience not accepted: aud is x, want y" {
		t.Errorf("audience message = %v", err)
	}
}

// countingKeys records the key IDs it is asked for.
type countingKeys struct {
	set  *JWKS
	kids []string
}

func (c *countingKeys) Lookup(kid string) []*JWK {
	c.kids = append(c.kids, kid)
	return c.set.Lookup(kid)
}

// TestVerifyJWTLimit checks the size limit of VerifyJWTLimit, that the key
// set is asked once for the header's kid, and that tokens too large for the
// stack buffer and claims off the fast path verify the same way.
func TestVerifyJWTLimit(t *testing.T) {
	t.Parallel()
	key := signingKey(t, RS256)
	s, err := NewSigner(key, RS256, "k1")
	if err != nil {
		t.Fatal(err)
	}
	exp := NewNumericDate(time.Now().Add(time.Hour))
	sign := func(extra map[string]any) string {
		tok, err := s.SignJWT("", &Claims{Issuer: "iss", Expiry: exp, Extra: extra})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	small := sign(map[string]any{"role": "admin"})
	big := sign(map[string]any{"blob": string(bytes.Repeat([]byte("x"), 3000))})
	nested := sign(map[string]any{"address": map[string]any{"city": "Berlin"}})
	set := &JWKS{Keys: []*JWK{verifyingJWK(t, key, RS256)}}
	set.Keys[0].KeyID = "k1"
	algs := mustAlgs(t, RS256)
	policy := &Policy{Issuers: []string{"iss"}}
	tests := []struct {
		name    string
		token   string
		limit   int
		want    error
		lookups int
	}{
		{"small", small, 0, nil, 1},
		{"exactly at the limit", small, len(small), nil, 1},
		{"one byte over the limit", small, len(small) - 1, ErrTooLarge, 0},
		{"larger than the stack buffer", big, 0, nil, 1},
		{"claims off the fast path", nested, 0, nil, 1},
		{"tampered", small[:len(small)-4] + "AAAA", 0, ErrSignature, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			keys := &countingKeys{set: set}
			tok, err := VerifyJWTLimit(tc.token, tc.limit, keys, algs, policy)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if len(keys.kids) != tc.lookups || (tc.lookups > 0 && keys.kids[0] != "k1") {
				t.Errorf("key set asked for %q, want k1 %d times", keys.kids, tc.lookups)
			}
			if err != nil {
				return
			}
			if tok.Claims.Issuer != "iss" || tok.Header.KeyID != "k1" || tok.Key != set.Keys[0] {
				t.Errorf("token = %+v, claims %+v", tok, tok.Claims)
			}
		})
	}
}
