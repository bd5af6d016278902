package main

import (
	"bytes"
	"context"
	"crypto"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/gate"
	"github.com/keyward/keyward/internal/metrics"
	"github.com/keyward/keyward/issuer"
	"github.com/keyward/keyward/jose"
)

// nodeIssuer is the Node recipe's issuer: tokens signed RS256 with a PEM
// key, "iss" http://localhost:4000, verified with the public PEM file.
type nodeIssuer struct {
	signer  *jose.Signer
	pubFile string
}

func newNodeIssuer(t *testing.T, dir string) *nodeIssuer {
	t.Helper()
	data, err := os.ReadFile("testdata/keys/rsa2048.pem")
	if err != nil {
		t.Fatal(err)
	}
	key, err := jose.ParseKeyPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	kid, err := jose.Thumbprint(key.(crypto.Signer).Public())
	if err != nil {
		t.Fatal(err)
	}
	s, err := jose.NewSigner(key, jose.RS256, kid)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile("testdata/keys/rsa2048.pub.pem")
	if err != nil {
		t.Fatal(err)
	}
	n := &nodeIssuer{signer: s, pubFile: filepath.Join(dir, "node-public.pem")}
	if err := os.WriteFile(n.pubFile, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	return n
}

// token signs as jsonwebtoken.sign(payload, key, {algorithm: 'RS256',
// expiresIn: '1h'}) does, typ JWT.
func (n *nodeIssuer) token(t *testing.T, iss string, extra map[string]any) string {
	t.Helper()
	tok, err := n.signer.SignJWT("JWT", &jose.Claims{
		Issuer: iss, Subject: "node-user", Audience: jose.Audience{"api"},
		IssuedAt: jose.NewNumericDate(time.Now()), Expiry: jose.NewNumericDate(time.Now().Add(time.Hour)), Extra: extra,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// twoIssuerPolicy is the policy of the two-issuer tests: keyward (found by
// discovery, with its revocation feed) and the Node recipe's key file.
func twoIssuerPolicy(keywardURL string) string {
	return `default: deny
issuers:
  keyward:
    issuer: ` + keywardURL + `
    audiences: [api]
    algs: [ES256]
    token-type: at+jwt
    revocations: ` + keywardURL + `/revocations
  node:
    issuer: http://localhost:4000
    key-files: [node-public.pem]
    audiences: [api]
    algs: [RS256]
routes:
  - name: home
    path: /
    methods: [GET]
    public: true
  - name: protected
    path: /protected
    methods: [GET]
  - name: admin
    path: /admin/*
    issuers: [keyward]
    any-role: [admin]
  - name: legacy-reports
    path: /reports/*
    issuers: [node]
    all-scopes: [reports:read]
`
}

// TestGatePolicyTwoIssuers runs keyward gate --policy with a real keyward
// issuer and the Node recipe's key: each issuer's tokens pass where the
// policy accepts them and nowhere else.
func TestGatePolicyTwoIssuers(t *testing.T) {
	t.Parallel()
	ri := startRevocationIssuer(t)
	params := issuer.PasswordParams{Memory: 64, Time: 1, Threads: 1}
	if _, err := issuer.NewUser(t.Context(), ri.store, "alice", "correct horse", []string{"admin"}, nil, params, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := issuer.NewUser(t.Context(), ri.store, "bob", "battery staple", nil, nil, params, nil); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	node := newNodeIssuer(t, dir)
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte(twoIssuerPolicy(ri.url)), 0o644); err != nil {
		t.Fatal(err)
	}
	gateURL, logs, stop := startGateCmd(t, nil, "--policy", policy)
	defer func() {
		if code := stop(); code != 0 {
			t.Errorf("gate exited with %d: %s", code, logs)
		}
	}()
	for _, want := range []string{"msg=policy_loaded", "issuers=keyward,node", "routes=4", "default=deny", `unmatched="refused with 404"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the start-up lines lack %q: %s", want, logs)
		}
	}
	alice := ri.login(t, "alice", "correct horse")
	bob := ri.login(t, "bob", "battery staple")
	nodeTok := node.token(t, "http://localhost:4000", map[string]any{"scope": "reports:read"})
	nodeNoScope := node.token(t, "http://localhost:4000", nil)
	forged := node.token(t, ri.url, map[string]any{"roles": []any{"admin"}}) // the Node key, keyward's iss
	tests := []struct {
		name, path, token string
		status            int
		challenge         string
	}{
		{"public", "/", "", http.StatusOK, ""},
		{"keyward on protected", "/protected", bob, http.StatusOK, ""},
		{"node on protected", "/protected", nodeTok, http.StatusOK, ""},
		{"keyward admin", "/admin/x", alice, http.StatusNotFound, ""}, // allowed: the demo API has no /admin/x
		{"keyward non-admin", "/admin/x", bob, http.StatusForbidden, "insufficient_scope"},
		{"node on admin", "/admin/x", nodeTok, http.StatusUnauthorized, "issuer not accepted"},
		{"node key with keyward iss", "/protected", forged, http.StatusUnauthorized, "invalid_token"},
		{"node on reports", "/reports/q1", nodeTok, http.StatusNotFound, ""},
		{"node without scope", "/reports/q1", nodeNoScope, http.StatusForbidden, `scope="reports:read"`},
		{"keyward on reports", "/reports/q1", bob, http.StatusUnauthorized, "issuer not accepted"},
		{"unmatched", "/elsewhere", bob, http.StatusNotFound, ""},
		{"no token", "/protected", "", http.StatusUnauthorized, `Bearer realm="keyward"`},
	}
	for _, tt := range tests {
		code, hdr, body := httpGet(t, gateURL+tt.path, tt.token)
		if code != tt.status {
			t.Errorf("%s: status %d, want %d: %s", tt.name, code, tt.status, body)
		}
		if !strings.Contains(hdr.Get("WWW-Authenticate"), tt.challenge) {
			t.Errorf("%s: WWW-Authenticate %q lacks %q", tt.name, hdr.Get("WWW-Authenticate"), tt.challenge)
		}
		// A 404 of the demo API behind an allowed route is not the
		// policy's: the policy's own 404 is counted as unmatched.
	}
	code, _, body := httpGet(t, gateURL+gate.MetricsPath, "")
	if code != http.StatusOK {
		t.Fatalf("metrics: %d", code)
	}
	for _, want := range []string{
		`keyward_gate_policy_requests_total{issuer="node",outcome="allowed",route="protected"} 1`,
		`keyward_gate_policy_requests_total{issuer="keyward",outcome="refused",route="admin"} 1`,
		`keyward_gate_policy_requests_total{issuer="",outcome="refused",route="unmatched"} 1`,
		`keyward_jwks_fetches_total{issuer="keyward",result="ok",trigger=`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestGatePolicyReload reloads the policy as SIGHUP does: a bad file keeps
// the policy in force and says where it is wrong; a good one takes effect
// and keeps the remote key set of the issuer that did not change.
func TestGatePolicyReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	newNodeIssuer(t, dir)
	policy := filepath.Join(dir, "policy.yaml")
	good := twoIssuerPolicy("http://127.0.0.1:1")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(policy, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(good)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	o := &gateOptions{policy: policy, algs: defaultGateAlgs, leeway: 30 * time.Second, cacheSize: 100,
		revocationsEvery: time.Second, revocationsMaxStale: time.Minute}
	gp, err := newGatePolicy(o, logger, metrics.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	first := gp.policies.Policy()
	keywardSet := gp.sources[sourceKey(gate.IssuerSpec{Name: "keyward", Issuer: "http://127.0.0.1:1", Revocations: "http://127.0.0.1:1/revocations"})]
	if keywardSet == nil || keywardSet.set == nil {
		t.Fatalf("no remote source for keyward: %v", gp.sources)
	}
	tests := []struct {
		name, src string
		line      string
	}{
		{"unknown key", strings.Replace(good, "any-role:", "any-roles:", 1), "line=25"},
		{"undefined issuer", strings.Replace(good, "issuers: [node]", "issuers: [nod]", 1), "line=26"},
		{"shadowed", good + "  - name: again\n    path: /admin/x\n", "line=30"},
		{"missing key file", strings.Replace(good, "node-public.pem", "gone.pem", 1), "line=9"},
		{"not YAML", "routes: [", "line=1"},
	}
	for _, tt := range tests {
		write(tt.src)
		logs.Reset()
		if err := gp.reload(t.Context(), true); err == nil {
			t.Fatalf("%s: reload succeeded", tt.name)
		}
		if gp.policies.Policy() != first {
			t.Fatalf("%s: the policy changed", tt.name)
		}
		if !strings.Contains(logs.String(), "msg=policy_reload_failed") || !strings.Contains(logs.String(), tt.line) ||
			!strings.Contains(logs.String(), "serving_previous_policy=true") {
			t.Errorf("%s: log %q, want policy_reload_failed with %s", tt.name, logs.String(), tt.line)
		}
	}

	// The node issuer's route changes; keyward's key set stays.
	write(strings.Replace(good, "all-scopes: [reports:read]", "all-scopes: [reports:write]", 1))
	logs.Reset()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if err := gp.reload(ctx, true); err != nil {
		t.Fatal(err)
	}
	if gp.policies.Policy() == first {
		t.Fatal("the policy did not change")
	}
	if !strings.Contains(logs.String(), "msg=policy_reloaded") || !strings.Contains(logs.String(), "routes=4") ||
		!strings.Contains(logs.String(), "key_sources_kept=2") {
		t.Errorf("log %q", logs.String())
	}
	if gp.sources[sourceKey(gate.IssuerSpec{Name: "keyward", Issuer: "http://127.0.0.1:1", Revocations: "http://127.0.0.1:1/revocations"})] != keywardSet {
		t.Error("keyward's key set was built again")
	}
}

func TestGatePolicyUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.yaml")
	newNodeIssuer(t, dir)
	if err := os.WriteFile(policy, []byte(twoIssuerPolicy("http://127.0.0.1:1")), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("issuers:\n  a:\n    issuer: http://x\n    audiences: [api]\n    color: blue\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		msg  string
	}{
		{[]string{"--policy", policy, "--issuer", "http://x"}, "--policy replaces --issuer"},
		{[]string{"--policy", policy, "--public", "/"}, "--public"},
		{[]string{"--policy", bad}, "bad.yaml:5: invalid policy: unknown key \"color\""},
		{[]string{"--policy", filepath.Join(dir, "none.yaml")}, "no such file"},
	}
	for _, tt := range tests {
		code, _, errOut := runKeyward(t, nil, append([]string{"gate", "--listen", "127.0.0.1:0"}, tt.args...)...)
		if code != 2 || !strings.Contains(errOut, tt.msg) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", tt.args, code, errOut, tt.msg)
		}
	}
}

// TestGatePolicyDPoP runs keyward gate --policy --dpop required: the
// policy's routes take the DPoP setting, so a token sent as Bearer is
// refused with a DPoP challenge.
func TestGatePolicyDPoP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	node := newNodeIssuer(t, dir)
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte(`issuers:
  node:
    issuer: http://localhost:4000
    key-files: [node-public.pem]
    audiences: [api]
    algs: [RS256]
routes:
  - name: protected
    path: /protected
`), 0o644); err != nil {
		t.Fatal(err)
	}
	base, _, stop := startGateCmd(t, map[string]string{"KEYWARD_DPOP": "required"}, "--policy", policy, "--policy-watch=false")
	tok := node.token(t, "http://localhost:4000", nil)
	if status, hdr, body := httpGet(t, base+"/protected", tok); status != http.StatusUnauthorized || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "DPoP ") {
		t.Errorf("a Bearer token under --dpop required: %d %v %s", status, hdr, body)
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
