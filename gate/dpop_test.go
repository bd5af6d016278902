package gate

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward/dpop"
	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/verifier"
)

func newClientSigner(t *testing.T) *dpop.ProofSigner {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := dpop.NewProofSigner(k, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestGateDPoP runs the demo API with DPoP required behind a TLS
// terminator (--public-origin): a bound token passes with a proof for the
// public URL, also from the verified-token cache, and every refusal is
// counted under its DPoP reason.
func TestGateDPoP(t *testing.T) {
	t.Parallel()
	key := loadKey(t, "rsa-a.pem")
	client, thief := newClientSigner(t), newClientSigner(t)
	bound := key.token(t, func(c *jose.Claims) { dpop.Bind(c, client.JKT()) })
	unbound := key.token(t, nil)
	origin, _ := url.Parse("https://api.example.com")
	counts := &reasonCounter{}
	h := demoGate(t, key, Config{Refusals: counts, DPoP: verifier.DPoPConfig{Mode: verifier.DPoPRequired, Origin: origin}})
	public, _ := url.Parse("https://api.example.com/protected")
	proof := func(s *dpop.ProofSigner, u *url.URL, tok string) string {
		p, err := s.Sign("GET", u, tok, "")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	send := func(scheme, tok string, proofs ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "http://10.0.0.7:3000/protected", nil)
		r.Header.Set("Authorization", scheme+" "+tok)
		for _, p := range proofs {
			r.Header.Add("DPoP", p)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	replayed := proof(client, public, bound)
	tests := []struct {
		name   string
		w      *httptest.ResponseRecorder
		status int
		reason string
	}{
		{"valid", send("DPoP", bound, replayed), 200, ""},
		{"valid again, token cached", send("DPoP", bound, proof(client, public, bound)), 200, ""},
		{"replayed proof", send("DPoP", bound, replayed), 401, "dpop_replay"},
		{"thief's proof", send("DPoP", bound, proof(thief, public, bound)), 401, "dpop_key_mismatch"},
		{"no proof", send("DPoP", bound), 401, "dpop_missing"},
		{"proof for the internal URL", send("DPoP", bound, proof(client, &url.URL{Scheme: "http", Host: "10.0.0.7:3000", Path: "/protected"}, bound)), 401, "dpop_invalid"},
		{"bound token as Bearer", send("Bearer", bound), 401, "dpop_required"},
		{"unbound token as Bearer", send("Bearer", unbound), 401, "dpop_required"},
		{"unbound token as DPoP", send("DPoP", unbound, proof(client, public, unbound)), 401, "dpop_not_bound"},
	}
	for _, tt := range tests {
		if tt.w.Code != tt.status {
			t.Errorf("%s: status %d %s, want %d", tt.name, tt.w.Code, tt.w.Body, tt.status)
		}
		if tt.reason != "" && counts.get(tt.reason) == 0 {
			t.Errorf("%s: no refusal counted as %s (%v)", tt.name, tt.reason, counts.n)
		}
		if tt.status == 401 && !strings.HasPrefix(tt.w.Header().Get("WWW-Authenticate"), "DPoP ") {
			t.Errorf("%s: challenge %q", tt.name, tt.w.Header().Get("WWW-Authenticate"))
		}
	}
	if _, err := New(Config{Verifier: nil}); err == nil {
		t.Error("New without a verifier passed")
	}
	bad, _ := url.Parse("https://api.example.com/base")
	v, err := verifier.New(verifier.Config{Keys: verifier.StaticKeys(&jose.JWKS{Keys: []*jose.JWK{key.pub}}),
		Issuers: []string{testIssuer}, Audiences: []string{testAudience}, Algorithms: []jose.Algorithm{jose.RS256}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Verifier: v, DPoP: verifier.DPoPConfig{Mode: verifier.DPoPAllowed, Origin: bad}}); err == nil {
		t.Error("New with an origin with a path passed")
	}
}

// TestGateBoundBearerRefusedWithDPoPOff checks that a gate without DPoP
// refuses a DPoP-bound token sent as Bearer.
func TestGateBoundBearerRefusedWithDPoPOff(t *testing.T) {
	t.Parallel()
	key := loadKey(t, "rsa-a.pem")
	client := newClientSigner(t)
	counts := &reasonCounter{}
	h := demoGate(t, key, Config{Refusals: counts})
	if code := serve(t, h, key.token(t, func(c *jose.Claims) { dpop.Bind(c, client.JKT()) })); code != 401 {
		t.Fatalf("bound token as Bearer: %d", code)
	}
	if counts.get("dpop_bound_as_bearer") != 1 {
		t.Errorf("refusals %v", counts.n)
	}
	if code := serve(t, h, key.token(t, nil)); code != 200 {
		t.Fatalf("unbound token: %d", code)
	}
}

// TestPolicyGateDPoP checks that a gate run with --policy applies its DPoP
// mode on every route: required refuses a Bearer token, and a bound token
// with a proof for the route passes.
func TestPolicyGateDPoP(t *testing.T) {
	t.Parallel()
	kw, lg := loadKey(t, "rsa-a.pem"), loadKey(t, "rsa-b.pem")
	p, err := compileTestPolicy(t, testPolicy, kw, lg, new(atomic.Int64))
	if err != nil {
		t.Fatal(err)
	}
	origin, _ := url.Parse("https://api.example.com")
	u := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(u.Close)
	up, _ := url.Parse(u.URL)
	h, err := New(Config{Policies: NewPolicies(p), Upstream: up, DPoP: verifier.DPoPConfig{Mode: verifier.DPoPRequired, Origin: origin}})
	if err != nil {
		t.Fatal(err)
	}
	client := newClientSigner(t)
	bound := kw.token(t, func(c *jose.Claims) { dpop.Bind(c, client.JKT()) })
	unbound := kw.token(t, nil)
	public, _ := url.Parse("https://api.example.com/me")
	proof, err := client.Sign("GET", public, bound, "")
	if err != nil {
		t.Fatal(err)
	}
	send := func(scheme, tok, proof string) int {
		r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "http://10.0.0.7:3000/me", nil)
		r.Header.Set("Authorization", scheme+" "+tok)
		if proof != "" {
			r.Header.Set("DPoP", proof)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	if got := send("Bearer", unbound, ""); got != http.StatusUnauthorized {
		t.Errorf("unbound Bearer token on a policy route with DPoP required: status %d, want 401", got)
	}
	if got := send("DPoP", bound, proof); got != http.StatusOK {
		t.Errorf("bound token with its proof: status %d, want 200", got)
	}
}
