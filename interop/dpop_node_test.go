package interop_test

import (
	"bufio"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/dpop"
	"github.com/keyward/keyward/jose"
)

// dpopStep is one line of node/dpop-client.js output.
type dpopStep struct {
	Step  string `json:"step"`
	OK    bool   `json:"ok"`
	Error string `json:"error"`
}

// TestDPoPWithOauth4webapi has panva's oauth4webapi, the reference
// JavaScript client, obtain DPoP-bound tokens from a real `keyward serve
// --dpop-nonce` (client_credentials with a secret for a --require-dpop
// client; the authorization code flow with PKCE and dpop_jkt for a public
// client, its userinfo and its bound refresh token) and present them to a
// real `keyward gate --dpop required` with server nonces, with proofs made
// by oauth4webapi and by the dpop package; a bound token sent as Bearer, a
// replayed proof, a proof of another key and a refresh with another key are
// refused.
func TestDPoPWithOauth4webapi(t *testing.T) {
	dir := nodeProject(t)
	bin := keywardBinary(t)
	port := freePort(t)
	issuer := "http://127.0.0.1:" + port
	data := filepath.Join(t.TempDir(), "keyward-data")
	start(t, t.TempDir(), nil, serveReady, bin, "serve", "--listen", "127.0.0.1:"+port, "--issuer", issuer,
		"--audience", serveAudience, "--data", data, "--dpop-nonce", "--log-level", "info")
	password, err := os.ReadFile(filepath.Join(data, "admin-password"))
	if err != nil {
		t.Fatal(err)
	}
	addClient := func(args ...string) (id, secret string) {
		t.Helper()
		out, stderr, code := run(t, ".", nil, "", bin, append([]string{"client", "add"}, append(args, "--data", data, "--json")...)...)
		if code != 0 {
			t.Fatalf("client add %v: exit %d: %s", args, code, stderr)
		}
		var c struct {
			ID     string `json:"client_id"`
			Secret string `json:"client_secret"`
		}
		if err := json.Unmarshal([]byte(out), &c); err != nil {
			t.Fatalf("client add: %s: %v", out, err)
		}
		return c.ID, c.Secret
	}
	const redirect = "http://127.0.0.1:9/callback"
	svcID, svcSecret := addClient("svc", "--grant", "client_credentials", "--require-dpop")
	spaID, _ := addClient("spa", "--public", "--redirect-uri", redirect)

	nonceSecret := filepath.Join(t.TempDir(), "dpop-nonce.secret")
	b := make([]byte, 32)
	rand.Read(b)
	if err := os.WriteFile(nonceSecret, b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, m := start(t, t.TempDir(), nil, gateReady, bin, "gate", "--listen", "127.0.0.1:0",
		"--issuer", issuer, "--audience", serveAudience, "--token-type", "at+jwt",
		"--dpop", "required", "--dpop-nonce-secret-file", nonceSecret)
	gate := "http://" + m[1]

	stdout, stderr, code := run(t, dir, []string{
		"ISSUER=" + issuer, "GATE=" + gate, "CLIENT_ID=" + svcID, "CLIENT_SECRET=" + svcSecret,
		"PUBLIC_CLIENT_ID=" + spaID, "REDIRECT_URI=" + redirect,
		"USERNAME=admin", "PASSWORD=" + strings.TrimSpace(string(password)),
	}, "", "node", "dpop-client.js")
	var done []string
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		var s dpopStep
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("dpop-client.js printed %q: %v", sc.Text(), err)
		}
		if !s.OK {
			t.Errorf("step %s failed: %s", s.Step, sc.Text())
		}
		t.Logf("oauth4webapi: %s", sc.Text())
		done = append(done, s.Step)
	}
	if code != 0 {
		t.Fatalf("dpop-client.js: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"discovery", "client_credentials", "gate_oauth4webapi_proof", "gate_bearer_refused",
		"gate_dpop_package_proof", "gate_replay_refused", "gate_other_key_refused", "authorization_code", "userinfo",
		"gate_code_flow_token", "refresh_other_key_refused", "refresh"} {
		if !slices.Contains(done, want) {
			t.Errorf("dpop-client.js did not run step %s", want)
		}
	}
}

// TestKeywardProofsInJose has panva's jose verify the DPoP proofs that
// keyward makes (dpop.NewProof, dpop.ProofSigner) with each kind of key:
// the signature by the embedded jwk, typ, htm, htu (its query and fragment
// left out), jti, iat and ath, and the thumbprint, which must be the one
// keyward binds tokens to.
func TestKeywardProofsInJose(t *testing.T) {
	dir := nodeProject(t)
	type proofCase struct {
		Proof string `json:"proof"`
		HTM   string `json:"htm"`
		HTU   string `json:"htu"`
		ATH   string `json:"ath"`
	}
	var (
		cases []proofCase
		jkts  []string
		algs  []jose.Algorithm
	)
	for _, alg := range []jose.Algorithm{jose.ES256, jose.ES384, jose.EdDSA, jose.RS256, jose.PS256} {
		key := privateKey(t, alg)
		s, err := dpop.NewProofSigner(key, alg, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		target, _ := url.Parse("https://api.example.com/orders/1?expand=items#top")
		token := "eyJhbGciOiJFUzI1NiJ9.e30.token-" + string(alg)
		p, err := s.Sign(http.MethodGet, target, token, "")
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, proofCase{p, http.MethodGet, "https://api.example.com/orders/1", dpop.ATH(token)})
		jkts, algs = append(jkts, s.JKT()), append(algs, alg)
	}
	// dpop.NewProof, the one-call form, for a token request.
	es := privateKey(t, jose.ES256)
	p, err := dpop.NewProof(es, http.MethodPost, "https://issuer.example.com/token", "", "")
	if err != nil {
		t.Fatal(err)
	}
	cases = append(cases, proofCase{p, http.MethodPost, "https://issuer.example.com/token", ""})
	jkts, algs = append(jkts, jkts[0]), append(algs, jose.ES256)

	var in strings.Builder
	for _, c := range cases {
		b, _ := json.Marshal(c)
		fmt.Fprintf(&in, "%s\n", b)
	}
	stdout, stderr, code := run(t, dir, nil, in.String(), "node", "verify-dpop-proof.js")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 0 || len(lines) != len(cases) {
		t.Fatalf("verify-dpop-proof.js: exit %d, %d lines for %d proofs\nstdout:\n%s\nstderr:\n%s", code, len(lines), len(cases), stdout, stderr)
	}
	for i, line := range lines {
		var r struct {
			OK  bool   `json:"ok"`
			Alg string `json:"alg"`
			JKT string `json:"jkt"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil || !r.OK || r.Alg != string(algs[i]) || r.JKT != jkts[i] {
			t.Errorf("proof %d (%s): %s, want ok with jkt %s", i, algs[i], line, jkts[i])
		}
	}
}
