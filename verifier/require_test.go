package verifier

import (
	"net/http"
	"slices"
	"testing"

	"github.com/keyward/keyward/jose"
)

// TestRequireChallengeScheme checks the challenge of a request that the
// verifying middleware accepted and a requirement refuses (RFC 9449 §7.1,
// RFC 6750 §3): a request with a DPoP-bound token and a proof gets the
// error in a DPoP challenge, a Bearer request in a Bearer challenge, on 403
// (a scope or a role missing) and on 401 (an issuer the route does not
// accept); a middleware without DPoP names Bearer only.
func TestRequireChallengeScheme(t *testing.T) {
	t.Parallel()
	f := newDPoPFixture(t)
	other := loadTestKey(t, "rsa-a.pem", jose.RS256)
	v, err := NewMulti(MultiConfig{
		Now: f.clock.Now,
		Issuers: []Issuer{
			{Name: "keyward", Config: baseConfig(f.clock, loadTestKey(t, "ec256.pem", jose.ES256))},
			{Name: "other", Config: Config{Keys: StaticKeys(&jose.JWKS{Keys: []*jose.JWK{other.pub}}),
				Issuers: []string{"https://other.example"}, Audiences: []string{"api"}, Algorithms: []jose.Algorithm{jose.RS256}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	const algs = `algs="RS256 PS256 ES256 ES384 EdDSA"`
	guards := []struct {
		name   string
		guard  func(http.Handler) http.Handler
		status int
		code   string // the challenge's error and scope parameters
	}{
		{name: "RequireScope", guard: RequireScope("admin"), status: 403,
			code: `error="insufficient_scope", error_description="insufficient scope", scope="admin"`},
		{name: "RequireRole", guard: RequireRole("auditor"), status: 403,
			code: `error="insufficient_scope", error_description="insufficient scope"`},
		{name: "Require scope", guard: v.Require(AnyScope("admin", "ops")), status: 403,
			code: `error="insufficient_scope", error_description="insufficient scope", scope="admin ops"`},
		{name: "Require issuer", guard: v.Require(FromIssuer("other")), status: 401,
			code: `error="invalid_token", error_description="issuer not accepted"`},
	}
	dpopReq := func(t *testing.T) dpopRequest {
		return dpopRequest{auth: []string{"DPoP " + f.bound}, proofs: []string{f.proof(t, f.client, "GET", target, f.bound, "")}}
	}
	bearerReq := func(*testing.T) dpopRequest { return dpopRequest{auth: []string{"Bearer " + f.unbound}} }
	requests := []struct {
		name  string
		mode  DPoPMode
		req   func(t *testing.T) dpopRequest
		chall func(code string) []string
	}{
		{name: "DPoP request, DPoP allowed", mode: DPoPAllowed, req: dpopReq,
			chall: func(code string) []string { return []string{"DPoP " + code + ", " + algs, "Bearer"} }},
		{name: "DPoP request, DPoP required", mode: DPoPRequired, req: dpopReq,
			chall: func(code string) []string { return []string{"DPoP " + code + ", " + algs} }},
		{name: "Bearer request, DPoP allowed", mode: DPoPAllowed, req: bearerReq,
			chall: func(code string) []string { return []string{"Bearer " + code, "DPoP " + algs} }},
		{name: "Bearer request, DPoP off", mode: DPoPOff, req: bearerReq,
			chall: func(code string) []string { return []string{"Bearer " + code} }},
	}
	for _, g := range guards {
		for _, rq := range requests {
			t.Run(g.name+"/"+rq.name, func(t *testing.T) {
				t.Parallel()
				h := Middleware(v, MiddlewareConfig{DPoP: DPoPConfig{Mode: rq.mode}})(g.guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					t.Error("the guard let the request through")
				})))
				w := serve(h, rq.req(t))
				got := w.Header().Values("WWW-Authenticate")
				if want := rq.chall(g.code); w.Code != g.status || !slices.Equal(got, want) {
					t.Errorf("%d %q\nwant %d %q", w.Code, got, g.status, want)
				}
			})
		}
	}
}
