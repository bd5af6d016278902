package gate

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
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
