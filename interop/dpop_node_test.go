package interop_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward/dpop"
	"github.com/keyward/keyward/jose"
)

const dpopURL = "https://api.example.com/orders/7"

// TestJoseVerifiesKeywardProofs checks that panva's jose verifies the
// proofs dpop.ProofSigner makes, with the key in their header, and reads
// the same claims and thumbprint.
func TestJoseVerifiesKeywardProofs(t *testing.T) {
	t.Parallel()
	dir := nodeProject(t)
	target, _ := url.Parse(dpopURL + "?page=2")
	const token = "an.access.token"
	var proofs []string
	var signers []*dpop.ProofSigner
	for _, alg := range []jose.Algorithm{jose.ES256, jose.EdDSA, jose.RS256, jose.PS256} {
		s, err := dpop.NewProofSigner(privateKey(t, alg), alg, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.Sign("POST", target, token, "")
		if err != nil {
			t.Fatal(err)
		}
		proofs, signers = append(proofs, p), append(signers, s)
	}
	stdout, stderr, code := run(t, dir, nil, "", "node", append([]string{"dpop-jose.js", "verify"}, proofs...)...)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 0 || len(lines) != len(proofs) {
		t.Fatalf("dpop-jose.js verify: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for i, s := range signers {
		t.Run("PAIR issuer=keyward-dpop verifier=panva-jose alg="+string(s.Algorithm()), func(t *testing.T) {
			var r struct {
				OK                      bool
				Alg, HTM, HTU, ATH, JKT string
			}
			if err := json.Unmarshal([]byte(lines[i]), &r); err != nil {
				t.Fatal(err)
			}
			if !r.OK || r.Alg != string(s.Algorithm()) || r.HTM != "POST" || r.HTU != dpopURL || r.ATH != dpop.ATH(token) || r.JKT != s.JKT() {
				t.Fatalf("panva-jose read %s; want htu %s, jkt %s", lines[i], dpopURL, s.JKT())
			}
			t.Logf("PAIR issuer=keyward-dpop verifier=panva-jose alg=%s: ok", s.Algorithm())
		})
	}
}

// TestKeywardVerifiesJoseProofs checks that dpop.Checker accepts the proofs
// a panva jose client makes, for each algorithm it allows, and binds them
// to the thumbprint jose computes.
func TestKeywardVerifiesJoseProofs(t *testing.T) {
	t.Parallel()
	dir := nodeProject(t)
	const token = "an.access.token"
	for _, alg := range []jose.Algorithm{jose.ES256, jose.ES384, jose.EdDSA, jose.RS256, jose.PS256} {
		t.Run("PAIR issuer=panva-jose verifier=keyward-dpop alg="+string(alg), func(t *testing.T) {
			stdout, stderr, code := run(t, dir, nil, "", "node", "dpop-jose.js", "sign", string(alg), "GET", dpopURL, dpop.ATH(token))
			if code != 0 {
				t.Fatalf("dpop-jose.js sign: exit %d\n%s", code, stderr)
			}
			var r struct{ Proof, JKT string }
			if err := json.Unmarshal([]byte(stdout), &r); err != nil {
				t.Fatal(err)
			}
			c, err := dpop.NewChecker(dpop.Config{})
			if err != nil {
				t.Fatal(err)
			}
			target, _ := url.Parse("https://API.example.com:443/orders/7")
			p, err := c.CheckBound(r.Proof, "GET", target, token, r.JKT)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if _, err := c.Check(r.Proof, "GET", target, token); err == nil {
				t.Fatal("the replayed proof passed")
			}
			t.Logf("PAIR issuer=panva-jose verifier=keyward-dpop alg=%s: ok (jkt %s)", alg, p.JKT)
		})
	}
}
