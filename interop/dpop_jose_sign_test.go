package interop_test

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/keyward/keyward/dpop"
	"github.com/keyward/keyward/jose"
)

// TestKeywardChecksJoseProofs checks that dpop.Checker accepts the proofs
// a client made with panva's jose (node/sign-dpop-jose.js), for each
// algorithm it allows, binds them to the thumbprint jose computes, and
// refuses them a second time.
func TestKeywardChecksJoseProofs(t *testing.T) {
	t.Parallel()
	dir := nodeProject(t)
	const token = "an.access.token"
	for _, alg := range []jose.Algorithm{jose.ES256, jose.ES384, jose.EdDSA, jose.RS256, jose.PS256} {
		t.Run("PAIR issuer=panva-jose verifier=keyward-dpop alg="+string(alg), func(t *testing.T) {
			stdout, stderr, code := run(t, dir, nil, "", "node", "sign-dpop-jose.js", string(alg), "GET", "https://api.example.com/orders/7", dpop.ATH(token))
			if code != 0 {
				t.Fatalf("sign-dpop-jose.js: exit %d\n%s", code, stderr)
			}
			var r struct{ Proof, JKT string }
			if err := json.Unmarshal([]byte(stdout), &r); err != nil {
				t.Fatal(err)
			}
			c, err := dpop.NewChecker(dpop.Config{})
			if err != nil {
				t.Fatal(err)
			}
			// The request's URL in another form of the same URL.
			target, _ := url.Parse("https://API.example.com:443/orders/7?page=2")
			p, err := c.CheckBound(r.Proof, "GET", target, token, r.JKT)
			if err != nil {
				t.Fatalf("CheckBound: %v", err)
			}
			if _, err := c.Check(r.Proof, "GET", target, token); err == nil {
				t.Fatal("the replayed proof passed")
			}
			t.Logf("PAIR issuer=panva-jose verifier=keyward-dpop alg=%s: ok (jkt %s)", alg, p.JKT)
		})
	}
}
