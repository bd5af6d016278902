package verifier

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/jose"
)

// metReference is what a requirement means, written with
// jose.Claims.Strings: the claims a and b together hold every one of want
// (all), or at least one (any).
func metReference(c *jose.Claims, all bool, want []string, a, b string) bool {
	have := c.Strings(a)
	if b != "" {
		have = slices.Concat(have, c.Strings(b))
	}
	for _, w := range want {
		if slices.Contains(have, w) != all {
			return !all
		}
	}
	return all
}

// FuzzRequirements checks every kind of requirement, on claims parsed from
// any payload, against metReference; and FromIssuer through Check and
// CheckIndex alike.
func FuzzRequirements(f *testing.F) {
	f.Add([]byte(`{"scope":"read write","roles":["admin"],"tenant":"acme"}`), uint8(0), "read,write", "tenant")
	f.Add([]byte(`{"scp":["a","b"],"role":"x"}`), uint8(1), "b", "scope")
	f.Add([]byte(`{"scope":" a\t\u00a0b ","roles":"admin"}`), uint8(2), "b,admin", "roles")
	f.Add([]byte(`{"iss":"https://b.example","sub":"u","aud":["api","x"],"jti":"j"}`), uint8(4), "api,j", "aud")
	f.Add([]byte(`{"iss":"https://a.example","sub":"u","tenant":[1,"acme",null]}`), uint8(5), "acme,u", "sub")
	f.Add([]byte(`{"iss":"https://a.example","jti":"j"}`), uint8(3), "j", "jti")
	v, err := NewMulti(MultiConfig{Issuers: []Issuer{
		{"a", Config{Keys: StaticKeys(&jose.JWKS{}), Issuers: []string{"https://a.example"}, Audiences: []string{"api"}, Algorithms: []jose.Algorithm{jose.RS256}}},
		{"b", Config{Keys: StaticKeys(&jose.JWKS{}), Issuers: []string{"https://b.example"}, Audiences: []string{"api"}, Algorithms: []jose.Algorithm{jose.RS256}}},
	}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, payload []byte, kind uint8, values, claim string) {
		c, err := jose.ParseClaims(payload)
		if err != nil {
			return
		}
		want := strings.Split(values, ",")
		if slices.Contains(want, "") || claim == "" {
			return
		}
		kinds := []struct {
			req  Requirement
			all  bool
			a, b string
		}{
			{AllScopes(want...), true, "scope", "scp"},
			{AnyScope(want...), false, "scope", "scp"},
			{AllRoles(want...), true, "roles", "role"},
			{AnyRole(want...), false, "roles", "role"},
			{ClaimAll(claim, want...), true, claim, ""},
			{ClaimAny(claim, want...), false, claim, ""},
		}
		k := kinds[int(kind)%len(kinds)]
		if strings.ContainsAny(values, " \t\"\\") && k.a == "scope" {
			return // Requirements refuses such scopes
		}
		for _, from := range [][]string{nil, {"a"}, {"b"}, {"a", "b"}} {
			reqs := []Requirement{k.req}
			if from != nil {
				reqs = append(reqs, FromIssuer(from...))
			}
			rs, err := v.Requirements(reqs...)
			if err != nil {
				t.Fatal(err)
			}
			name, known := v.IssuerName(c)
			var exp error
			switch {
			case from != nil && (!known || !slices.Contains(from, name)):
				exp = ErrIssuerNotAllowed
			case !metReference(c, k.all, want, k.a, k.b):
				exp = ErrInsufficientScope
			}
			for how, got := range map[string]error{
				"Check":      rs.Check(c),
				"CheckFrom":  rs.CheckFrom(c, name, known),
				"CheckIndex": rs.CheckIndex(c, v.IssuerIndex(c)),
			} {
				if (got == nil) != (exp == nil) || exp != nil && !errors.Is(got, exp) {
					t.Fatalf("%s of %v from %v on %s: %v, want %v", how, k.req, from, payload, got, exp)
				}
			}
		}
	})
}
