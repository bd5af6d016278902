package gate

import (
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

// TestPolicyGateDPoPChallenges checks the challenge of a request that a
// policy route refuses after its token was verified (RFC 9449 §7.1): the
// error goes in a DPoP challenge for a request with a DPoP-bound token and
// its proof, in a Bearer challenge for a Bearer request, on 403 (a scope
// missing) and on 401 (an issuer the route does not accept).
func TestPolicyGateDPoPChallenges(t *testing.T) {
	t.Parallel()
	kw, lg := loadKey(t, "rsa-a.pem"), loadKey(t, "rsa-b.pem")
	p, err := compileTestPolicy(t, testPolicy, kw, lg, new(atomic.Int64))
	if err != nil {
		t.Fatal(err)
	}
	origin, _ := url.Parse("https://api.example.com")
	u := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("the gate let the request through") }))
	t.Cleanup(u.Close)
	up, _ := url.Parse(u.URL)
	h, err := New(Config{Policies: NewPolicies(p), Upstream: up, DPoP: verifier.DPoPConfig{Mode: verifier.DPoPAllowed, Origin: origin}})
	if err != nil {
		t.Fatal(err)
	}
	client := newClientSigner(t)
	public, _ := url.Parse("https://api.example.com/orders/1")
	legacy := func(c *jose.Claims) { c.Issuer = legacyIssuer; c.Extra["scope"] = "write:orders" }
	tests := []struct {
		name     string
		token    *testKey
		mod      func(*jose.Claims)
		status   int
		code     string
		wantDPoP bool
	}{
		{name: "scope missing, Bearer", token: kw, status: http.StatusForbidden,
			code: `error="insufficient_scope", error_description="insufficient scope", scope="write:orders"`},
		{name: "scope missing, DPoP", token: kw, wantDPoP: true, status: http.StatusForbidden,
			code: `error="insufficient_scope", error_description="insufficient scope", scope="write:orders"`},
		{name: "issuer not accepted, Bearer", token: lg, mod: legacy, status: http.StatusUnauthorized,
			code: `error="invalid_token", error_description="issuer not accepted"`},
		{name: "issuer not accepted, DPoP", token: lg, mod: legacy, wantDPoP: true, status: http.StatusUnauthorized,
			code: `error="invalid_token", error_description="issuer not accepted"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "http://10.0.0.7:3000/orders/1", nil)
			scheme := "Bearer"
			tok := tt.token.token(t, func(c *jose.Claims) {
				if tt.mod != nil {
					tt.mod(c)
				}
				if tt.wantDPoP {
					dpop.Bind(c, client.JKT())
				}
			})
			if tt.wantDPoP {
				scheme = "DPoP"
				proof, err := client.Sign(http.MethodPost, public, tok, "")
				if err != nil {
					t.Fatal(err)
				}
				r.Header.Set("DPoP", proof)
			}
			r.Header.Set("Authorization", scheme+" "+tok)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			got := w.Header().Values("WWW-Authenticate")
			if w.Code != tt.status || len(got) != 2 || !strings.HasPrefix(got[0], scheme+" ") || !strings.Contains(got[0], tt.code) {
				t.Errorf("%d %q; want %d with the error %s in a %s challenge first", w.Code, got, tt.status, tt.code, scheme)
			}
		})
	}
}
