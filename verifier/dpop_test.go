package verifier

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/dpop"
	"github.com/keyward/keyward/jose"
)

// dpopFixture is a verifier, a client key pair and tokens bound to it.
type dpopFixture struct {
	clock   *clock
	v       *Verifier
	client  *dpop.ProofSigner
	thief   *dpop.ProofSigner
	bound   string // a token bound to client's key
	unbound string // a plain token
	expired string // a bound token past its expiry
}

func newDPoPFixture(t *testing.T) *dpopFixture {
	t.Helper()
	f := &dpopFixture{clock: newClock()}
	issuerKey := loadTestKey(t, "ec256.pem", jose.ES256)
	f.v = newVerifier(t, baseConfig(f.clock, issuerKey))
	f.client = newProofSigner(t, f.clock)
	f.thief = newProofSigner(t, f.clock)
	c := claims()
	dpop.Bind(c, f.client.JKT())
	f.bound = issuerKey.sign(t, "at+jwt", c)
	f.unbound = issuerKey.sign(t, "at+jwt", claims())
	c = claims()
	dpop.Bind(c, f.client.JKT())
	c.Expiry = jose.NewNumericDate(t0.Add(-time.Hour))
	f.expired = issuerKey.sign(t, "at+jwt", c)
	return f
}

func newProofSigner(t *testing.T, c *clock) *dpop.ProofSigner {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := dpop.NewProofSigner(k, "", c.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *dpopFixture) proof(t *testing.T, s *dpop.ProofSigner, method, rawURL, token, nonce string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Sign(method, u, token, nonce)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// handler is a protected handler behind Middleware with cfg; it answers
// "sub=<subject> dpop=<jkt>".
func (f *dpopFixture) handler(t *testing.T, cfg DPoPConfig) http.Handler {
	t.Helper()
	return Middleware(f.v, MiddlewareConfig{Realm: "api", DPoP: cfg})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := ClaimsFrom(r.Context())
		jkt := "-"
		if p, ok := ProofFrom(r.Context()); ok {
			jkt = p.JKT
		}
		io.WriteString(w, "sub="+c.Subject+" dpop="+jkt)
	}))
}

const target = "http://api.example.com/orders"

type dpopRequest struct {
	method string
	url    string
	auth   []string
	proofs []string
	header map[string]string
}

func serve(h http.Handler, req dpopRequest) *httptest.ResponseRecorder {
	method := req.method
	if method == "" {
		method = "GET"
	}
	u := req.url
	if u == "" {
		u = target
	}
	r := httptest.NewRequest(method, u, nil)
	for _, a := range req.auth {
		r.Header.Add("Authorization", a)
	}
	for _, p := range req.proofs {
		r.Header.Add("DPoP", p)
	}
	for k, v := range req.header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestMiddlewareDPoP is the attack table of DPoP at a resource server, in
// each mode.
func TestMiddlewareDPoP(t *testing.T) {
	t.Parallel()
	f := newDPoPFixture(t)
	algs := `algs="RS256 PS256 ES256 ES384 EdDSA"`
	type want struct {
		status int
		body   string   // substring
		chall  []string // exact WWW-Authenticate values, in order; nil: not checked
	}
	tests := []struct {
		name string
		mode DPoPMode
		req  func(t *testing.T) dpopRequest
		want want
	}{
		{name: "off: unbound Bearer", mode: DPoPOff,
			req:  func(t *testing.T) dpopRequest { return dpopRequest{auth: []string{"Bearer " + f.unbound}} },
			want: want{status: 200, body: "sub=user-1 dpop=-"}},
		{name: "off: bound token downgraded to Bearer", mode: DPoPOff,
			req: func(t *testing.T) dpopRequest { return dpopRequest{auth: []string{"Bearer " + f.bound}} },
			want: want{status: 401, body: "DPoP-bound token sent as Bearer",
				chall: []string{`Bearer realm="api", error="invalid_token", error_description="DPoP-bound token sent as Bearer"`}}},
		{name: "off: DPoP scheme is no credential", mode: DPoPOff,
			req: func(t *testing.T) dpopRequest {
				return dpopRequest{auth: []string{"DPoP " + f.bound}, proofs: []string{f.proof(t, f.client, "GET", target, f.bound, "")}}
			},
			want: want{status: 401, chall: []string{`Bearer realm="api"`}}},

		{name: "allowed: unbound Bearer", mode: DPoPAllowed,
			req:  func(t *testing.T) dpopRequest { return dpopRequest{auth: []string{"Bearer " + f.unbound}} },
			want: want{status: 200, body: "sub=user-1 dpop=-"}},
		{name: "allowed: no credentials", mode: DPoPAllowed,
			req:  func(t *testing.T) dpopRequest { return dpopRequest{} },
			want: want{status: 401, chall: []string{`DPoP realm="api", ` + algs, `Bearer realm="api"`}}},
		{name: "allowed: bound token downgraded to Bearer", mode: DPoPAllowed,
			req: func(t *testing.T) dpopRequest { return dpopRequest{auth: []string{"Bearer " + f.bound}} },
			want: want{status: 401, chall: []string{
				`Bearer realm="api", error="invalid_token", error_description="DPoP-bound token sent as Bearer"`,
				`DPoP realm="api", ` + algs}}},
		{name: "allowed: bound token with a proof", mode: DPoPAllowed,
			req: func(t *testing.T) dpopRequest {
				return dpopRequest{auth: []string{"DPoP " + f.bound}, proofs: []string{f.proof(t, f.client, "GET", target, f.bound, "")}}
			},
			want: want{status: 200, body: "sub=user-1 dpop=" + f.client.JKT()}},
		{name: "allowed: scheme case-insensitive", mode: DPoPAllowed,
			req: func(t *testing.T) dpopRequest {
				return dpopRequest{auth: []string{"dpop " + f.bound}, proofs: []string{f.proof(t, f.client, "GET", target, f.bound, "")}}
			},
			want: want{status: 200}},
		{name: "allowed: no proof", mode: DPoPAllowed,
			req: func(t *testing.T) dpopRequest { return dpopRequest{auth: []string{"DPoP " + f.bound}} },
			want: want{status: 401, chall: []string{
				`DPoP realm="api", error="invalid_dpop_proof", error_description="DPoP proof missing", ` + algs,
				`Bearer realm="api"`}}},
		{name: "allowed: two proofs", mode: DPoPAllowed,
			req: func(t *testing.T) dpopRequest {
				p := f.proof(t, f.client, "GET", target, f.bound, "")
				return dpopRequest{auth: []string{"DPoP " + f.bound}, proofs: []string{p, p}}
			},
			want: want{status: 401, body: "invalid_dpop_proof"}},
		{name: "allowed: proof signed by another key than cnf.jkt", mode: DPoPAllowed,
			req: func(t *testing.T) dpopRequest {
				return dpopRequest{auth: []string{"DPoP " + f.bound}, proofs: []string{f.proof(t, f.thief, "GET", target, f.bound, "")}}
			},
			want: want{status: 401, body: "DPoP proof key not bound to the token"}},
		{name: "allowed: unbound token as DPoP", mode: DPoPAllowed,
			req: func(t *testing.T) dpopRequest {
				return dpopRequest{auth: []string{"DPoP " + f.unbound}, proofs: []string{f.proof(t, f.client, "GET", target, f.unbound, "")}}
			},
			want: want{status: 401, chall: []string{
				`DPoP realm="api", error="invalid_token", error_description="token not DPoP-bound", ` + algs,
				`Bearer realm="api"`}}},
		{name: "allowed: expired bound token", mode: DPoPAllowed,
			req: func(t *testing.T) dpopRequest {
				return dpopRequest{auth: []string{"DPoP " + f.expired}, proofs: []string{f.proof(t, f.client, "GET", target, f.expired, "")}}
			},
			want: want{status: 401, body: `"invalid_token","error_description":"token expired"`}},
		{name: "allowed: proof for another method", mode: DPoPAllowed,
			req: func(t *testing.T) dpopRequest {
				return dpopRequest{method: "DELETE", auth: []string{"DPoP " + f.bound}, proofs: []string{f.proof(t, f.client, "GET", target, f.bound, "")}}
			},
			want: want{status: 401, body: "invalid_dpop_proof"}},
		{name: "allowed: proof for another path", mode: DPoPAllowed,
			req: func(t *testing.T) dpopRequest {
				return dpopRequest{url: target + "/1", auth: []string{"DPoP " + f.bound}, proofs: []string{f.proof(t, f.client, "GET", target, f.bound, "")}}
			},
			want: want{status: 401, body: "invalid_dpop_proof"}},
		{name: "allowed: proof for another token", mode: DPoPAllowed,
			req: func(t *testing.T) dpopRequest {
				return dpopRequest{auth: []string{"DPoP " + f.bound}, proofs: []string{f.proof(t, f.client, "GET", target, f.unbound, "")}}
			},
			want: want{status: 401, body: "invalid_dpop_proof"}},
		{name: "allowed: X-Forwarded-Host is not trusted", mode: DPoPAllowed,
			req: func(t *testing.T) dpopRequest {
				return dpopRequest{url: "http://internal:8080/orders", auth: []string{"DPoP " + f.bound},
					proofs: []string{f.proof(t, f.client, "GET", target, f.bound, "")},
					header: map[string]string{"X-Forwarded-Host": "api.example.com", "X-Forwarded-Proto": "http"}}
			},
			want: want{status: 401, body: "invalid_dpop_proof"}},
		{name: "allowed: malformed DPoP credentials", mode: DPoPAllowed,
			req:  func(t *testing.T) dpopRequest { return dpopRequest{auth: []string{"DPoP "}} },
			want: want{status: 400, body: "invalid_request"}},

		{name: "required: unbound Bearer", mode: DPoPRequired,
			req:  func(t *testing.T) dpopRequest { return dpopRequest{auth: []string{"Bearer " + f.unbound}} },
			want: want{status: 401, chall: []string{`DPoP realm="api", ` + algs}}},
		{name: "required: bound token downgraded to Bearer", mode: DPoPRequired,
			req:  func(t *testing.T) dpopRequest { return dpopRequest{auth: []string{"Bearer " + f.bound}} },
			want: want{status: 401, chall: []string{`DPoP realm="api", ` + algs}}},
		{name: "required: bound token with a proof", mode: DPoPRequired,
			req: func(t *testing.T) dpopRequest {
				return dpopRequest{auth: []string{"DPoP " + f.bound}, proofs: []string{f.proof(t, f.client, "GET", target, f.bound, "")}}
			},
			want: want{status: 200, body: "dpop=" + f.client.JKT()}},
		{name: "required: bad proof", mode: DPoPRequired,
			req: func(t *testing.T) dpopRequest {
				return dpopRequest{auth: []string{"DPoP " + f.bound}, proofs: []string{"e30.e30.e30"}}
			},
			want: want{status: 401, chall: []string{`DPoP realm="api", error="invalid_dpop_proof", error_description="DPoP proof invalid", ` + algs}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := serve(f.handler(t, DPoPConfig{Mode: tt.mode}), tt.req(t))
			if w.Code != tt.want.status || !strings.Contains(w.Body.String(), tt.want.body) {
				t.Errorf("status %d, body %q; want %d with %q", w.Code, w.Body, tt.want.status, tt.want.body)
			}
			if tt.want.chall != nil {
				got := w.Header().Values("WWW-Authenticate")
				if strings.Join(got, "\n") != strings.Join(tt.want.chall, "\n") {
					t.Errorf("WWW-Authenticate\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want.chall, "\n"))
				}
			}
			if w.Code == 200 && w.Header().Get("WWW-Authenticate") != "" {
				t.Error("challenge on success")
			}
		})
	}
}

// TestMiddlewareDPoPReplay checks that a proof is checked on every request,
// also when the token is answered from the verified-token cache.
func TestMiddlewareDPoPReplay(t *testing.T) {
	t.Parallel()
	f := newDPoPFixture(t)
	h := f.handler(t, DPoPConfig{Mode: DPoPRequired})
	p := f.proof(t, f.client, "GET", target, f.bound, "")
	req := dpopRequest{auth: []string{"DPoP " + f.bound}, proofs: []string{p}}
	if w := serve(h, req); w.Code != 200 {
		t.Fatalf("first request: %d %s", w.Code, w.Body)
	}
	if f.v.CacheLen() != 1 {
		t.Fatal("the token is not cached")
	}
	if w := serve(h, req); w.Code != 401 || !strings.Contains(w.Body.String(), "DPoP proof replayed") {
		t.Fatalf("replayed proof with a cached token: %d %s", w.Code, w.Body)
	}
	req.proofs = []string{f.proof(t, f.client, "GET", target, f.bound, "")}
	if w := serve(h, req); w.Code != 200 {
		t.Fatalf("fresh proof with a cached token: %d %s", w.Code, w.Body)
	}
	// The thief holds the cached token but not the key.
	req.proofs = []string{f.proof(t, f.thief, "GET", target, f.bound, "")}
	if w := serve(h, req); w.Code != 401 {
		t.Fatalf("thief's proof with a cached token: %d %s", w.Code, w.Body)
	}
	// An old proof is refused.
	old := f.proof(t, f.client, "GET", target, f.bound, "")
	f.clock.Add(2 * time.Minute)
	req.proofs = []string{old}
	if w := serve(h, req); w.Code != 401 || !strings.Contains(w.Body.String(), "invalid_dpop_proof") {
		t.Fatalf("proof two minutes old: %d %s", w.Code, w.Body)
	}
}

// TestMiddlewareDPoPOrigin checks that the htu is the configured public
// origin with the request's path, behind a proxy.
func TestMiddlewareDPoPOrigin(t *testing.T) {
	t.Parallel()
	f := newDPoPFixture(t)
	origin, _ := url.Parse("https://api.example.com")
	h := f.handler(t, DPoPConfig{Mode: DPoPRequired, Origin: origin})
	for _, tt := range []struct {
		htu  string
		want int
	}{
		{"https://api.example.com/orders", 200},
		{"https://API.example.com:443/orders", 200},
		{"http://internal:8080/orders", 401},
		{"http://api.example.com/orders", 401},
	} {
		req := dpopRequest{url: "http://internal:8080/orders?x=1", auth: []string{"DPoP " + f.bound},
			proofs: []string{f.proof(t, f.client, "GET", tt.htu, f.bound, "")}}
		if w := serve(h, req); w.Code != tt.want {
			t.Errorf("htu %s: %d %s, want %d", tt.htu, w.Code, w.Body, tt.want)
		}
	}
	for _, bad := range []string{"https://api.example.com/base", "ftp://x", "https://", "https://u@h"} {
		u, _ := url.Parse(bad)
		if err := (DPoPConfig{Mode: DPoPRequired, Origin: u}).Validate(); err == nil {
			t.Errorf("origin %q passed", bad)
		}
	}
	if err := (DPoPConfig{Mode: 7}).Validate(); err == nil {
		t.Error("mode 7 passed")
	}
}

// TestMiddlewareDPoPNonce checks the use_dpop_nonce round trip.
func TestMiddlewareDPoPNonce(t *testing.T) {
	t.Parallel()
	f := newDPoPFixture(t)
	nonces, err := dpop.NewNonces([]byte("a nonce secret for tests, 32 b.."), time.Minute, f.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	checker, err := dpop.NewChecker(dpop.Config{Now: f.clock.Now, Nonces: nonces})
	if err != nil {
		t.Fatal(err)
	}
	h := f.handler(t, DPoPConfig{Mode: DPoPAllowed, Checker: checker})
	w := serve(h, dpopRequest{auth: []string{"DPoP " + f.bound}, proofs: []string{f.proof(t, f.client, "GET", target, f.bound, "")}})
	nonce := w.Header().Get("DPoP-Nonce")
	if w.Code != 401 || nonce == "" || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), `DPoP realm="api", error="use_dpop_nonce"`) {
		t.Fatalf("proof without nonce: %d %q %v", w.Code, w.Body, w.Header())
	}
	w = serve(h, dpopRequest{auth: []string{"DPoP " + f.bound}, proofs: []string{f.proof(t, f.client, "GET", target, f.bound, nonce)}})
	if w.Code != 200 {
		t.Fatalf("proof with the nonce: %d %s", w.Code, w.Body)
	}
	f.clock.Add(2 * time.Minute)
	w = serve(h, dpopRequest{auth: []string{"DPoP " + f.bound}, proofs: []string{f.proof(t, f.client, "GET", target, f.bound, nonce)}})
	if w.Code != 401 || !strings.Contains(w.Body.String(), "use_dpop_nonce") || w.Header().Get("DPoP-Nonce") == nonce {
		t.Fatalf("stale nonce: %d %s", w.Code, w.Body)
	}
}

// TestMiddlewareDPoPCacheFull checks the 503 of a full replay cache.
func TestMiddlewareDPoPCacheFull(t *testing.T) {
	t.Parallel()
	f := newDPoPFixture(t)
	checker, err := dpop.NewChecker(dpop.Config{Now: f.clock.Now, ReplayCacheSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	h := f.handler(t, DPoPConfig{Mode: DPoPRequired, Checker: checker})
	for i, want := range []int{200, 503} {
		w := serve(h, dpopRequest{auth: []string{"DPoP " + f.bound}, proofs: []string{f.proof(t, f.client, "GET", target, f.bound, "")}})
		if w.Code != want || want == 503 && w.Header().Get("Retry-After") == "" {
			t.Fatalf("request %d: %d %s, want %d", i, w.Code, w.Body, want)
		}
	}
}

func TestDPoPReasons(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err  error
		want string
	}{
		{ErrDPoPRequired, "dpop_required"},
		{ErrBoundAsBearer, "dpop_bound_as_bearer"},
		{ErrNotBound, "dpop_not_bound"},
		{dpop.ErrReplay, "dpop_replay"},
		{dpop.ErrKeyMismatch, "dpop_key_mismatch"},
		{dpop.ErrNoProof, "dpop_missing"},
		{dpop.ErrUseNonce, "dpop_use_nonce"},
		{dpop.ErrReplayCacheFull, "dpop_replay_cache_full"},
		{errors.Join(dpop.ErrInvalidProof, jose.ErrSignature), "dpop_invalid"},
	} {
		if got := Reason(tt.err); got != tt.want {
			t.Errorf("Reason(%v) = %q, want %q", tt.err, got, tt.want)
		}
		if Description(tt.err) == "token invalid" {
			t.Errorf("Description(%v) has no category", tt.err)
		}
	}
	for _, s := range []string{"off", "allowed", "required"} {
		m, err := ParseDPoPMode(s)
		if err != nil || m.String() != s {
			t.Errorf("ParseDPoPMode(%q) = %v, %v", s, m, err)
		}
	}
	if _, err := ParseDPoPMode("on"); err == nil {
		t.Error("ParseDPoPMode(on) passed")
	}
}
