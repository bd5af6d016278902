package gate

import (
	"crypto"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/jwks"
	"github.com/keyward/keyward/verifier"
)

const (
	testIssuer   = "https://issuer.example"
	testAudience = "api"
)

type testKey struct {
	pub    *jose.JWK
	signer *jose.Signer
}

func loadKey(t *testing.T, name string) *testKey {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	k, err := jose.ParseKeyPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jose.NewJWK(k.(crypto.Signer).Public(), jose.RS256)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jose.NewSigner(k, jose.RS256, pub.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	return &testKey{pub: pub, signer: s}
}

// token signs claims as `keyward token sign` does, from valid defaults
// changed by mod.
func (k *testKey) token(t *testing.T, mod func(*jose.Claims)) string {
	t.Helper()
	c := &jose.Claims{
		Issuer:   testIssuer,
		Subject:  "user-42",
		Audience: jose.Audience{testAudience},
		IssuedAt: jose.NewNumericDate(time.Now()),
		Expiry:   jose.NewNumericDate(time.Now().Add(time.Hour)),
		Extra:    map[string]any{"scope": "read write", "email": "u@example.com"},
	}
	if mod != nil {
		mod(c)
	}
	tok, err := k.signer.SignJWT("JWT", c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// jwksServer serves keys as an issuer would.
func jwksServer(t *testing.T, keys ...*testKey) *httptest.Server {
	t.Helper()
	set := &jose.JWKS{}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.pub)
	}
	body, err := set.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// startGate runs the gate's handler on a loopback server, as `keyward
// gate` does, with the keys of a JWKS URL.
func startGate(t *testing.T, jwksURL string, upstream *url.URL, public ...string) (*httptest.Server, *jwks.Set) {
	t.Helper()
	set, err := jwks.New(jwks.Config{URL: jwksURL})
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.New(verifier.Config{
		Keys:       set,
		Issuers:    []string{testIssuer},
		Audiences:  []string{testAudience},
		Algorithms: []jose.Algorithm{jose.RS256, jose.ES256, jose.EdDSA},
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Verifier: v, Upstream: upstream, PublicPaths: public, Ready: set.Ready})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, set
}

func get(t *testing.T, url, token string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header[k] = []string{v}
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestDemoAPI is the gate's acceptance: a token made like `keyward token
// sign` makes, a JWKS served over HTTP, and every answer of the list.
func TestDemoAPI(t *testing.T) {
	t.Parallel()
	key := loadKey(t, "rsa-a.pem")
	stranger := loadKey(t, "rsa-b.pem")
	gw, _ := startGate(t, jwksServer(t, key).URL+"/jwks.json", nil)

	valid := key.token(t, nil)
	tampered := func() string {
		h, rest, _ := strings.Cut(valid, ".")
		_, sig, _ := strings.Cut(rest, ".")
		p := base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"` + testIssuer + `","sub":"admin","aud":"api","exp":9999999999}`))
		return h + "." + p + "." + sig
	}()
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"`+testIssuer+`","sub":"admin","aud":"api","exp":9999999999}`)) + "."

	tests := []struct {
		name       string
		path       string
		token      string
		wantStatus int
		wantBody   string
		wantChall  string
	}{
		{"public route", "/", "", 200, `{"message":"This is a public route"}`, ""},
		{"protected without a token", "/protected", "", 401, "", `Bearer realm="keyward"`},
		{"protected with a token", "/protected", valid, 200, `"message":"You have accessed a protected route!"`, ""},
		{"expired", "/protected", key.token(t, func(c *jose.Claims) { c.Expiry = jose.NewNumericDate(time.Now().Add(-time.Hour)) }), 401, "token expired", `error="invalid_token", error_description="token expired"`},
		{"wrong audience", "/protected", key.token(t, func(c *jose.Claims) { c.Audience = jose.Audience{"billing"} }), 401, "audience not accepted", `error="invalid_token"`},
		{"wrong issuer", "/protected", key.token(t, func(c *jose.Claims) { c.Issuer = "https://evil.example" }), 401, "issuer not accepted", `error="invalid_token"`},
		{"tampered", "/protected", tampered, 401, "signature invalid", `error="invalid_token"`},
		{"alg none", "/protected", none, 401, "algorithm not allowed", `error="invalid_token"`},
		{"key not in the set", "/protected", stranger.token(t, nil), 401, "signing key not found", `error="invalid_token"`},
		{"health", HealthPath, "", 200, `"status":"ok"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, gw.URL+tt.path, tt.token, nil)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.wantStatus, body)
			}
			if !strings.Contains(body, tt.wantBody) {
				t.Fatalf("body %s, want %q in it", body, tt.wantBody)
			}
			if got := resp.Header.Get("WWW-Authenticate"); !strings.Contains(got, tt.wantChall) || (tt.wantChall == "" && got != "") {
				t.Fatalf("WWW-Authenticate %q, want %q", got, tt.wantChall)
			}
		})
	}

	// The protected route shows the verified claims.
	_, body := get(t, gw.URL+"/protected", valid, nil)
	var out struct {
		Claims map[string]any `json:"claims"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	if out.Claims["sub"] != "user-42" || out.Claims["email"] != "u@example.com" {
		t.Fatalf("claims %v", out.Claims)
	}
}

func TestHealthReportsKeySource(t *testing.T) {
	t.Parallel()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)
	gw, _ := startGate(t, down.URL+"/jwks.json", nil)
	key := loadKey(t, "rsa-a.pem")
	resp, body := get(t, gw.URL+"/protected", key.token(t, nil), nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("status %d, Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if got := resp.Header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After %q, want 1: the key set tries again within a second", got)
	}
	resp, body = get(t, gw.URL+HealthPath, "", nil)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "unavailable") || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("health %d Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	// The public route does not depend on keys.
	if resp, _ := get(t, gw.URL+"/", "", nil); resp.StatusCode != 200 {
		t.Fatalf("public route %d", resp.StatusCode)
	}
}

// upstreamRecorder is a real upstream that records what reached it.
type upstreamRecorder struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (u *upstreamRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.reqs = append(u.reqs, r.Clone(r.Context()))
	u.mu.Unlock()
	w.Header().Set("X-Upstream", "yes")
	io.WriteString(w, "upstream saw "+r.URL.Path)
}

func (u *upstreamRecorder) last(t *testing.T) *http.Request {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("nothing reached the upstream")
	}
	return u.reqs[len(u.reqs)-1]
}

func (u *upstreamRecorder) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

func TestProxy(t *testing.T) {
	t.Parallel()
	key := loadKey(t, "rsa-a.pem")
	rec := &upstreamRecorder{}
	up := httptest.NewServer(rec)
	t.Cleanup(up.Close)
	upURL, _ := url.Parse(up.URL + "/base")
	gw, _ := startGate(t, jwksServer(t, key).URL+"/jwks.json", upURL, "/public/*", "/ping")

	forged := map[string]string{
		"X-Auth-Subject": "admin",
		"x-auth-scope":   "everything",
		"X-AUTH-CLAIMS":  "e30",
		"X_Auth_Subject": "admin",
		"X-Auth-Other":   "x",
	}
	checkStripped := func(t *testing.T, r *http.Request) {
		t.Helper()
		for name, vals := range r.Header {
			if isAuthHeader(name) {
				for _, v := range vals {
					if v == "admin" || v == "everything" || v == "e30" || v == "x" {
						t.Fatalf("upstream saw client-supplied %s: %q", name, v)
					}
				}
			}
		}
	}

	t.Run("verified request carries the identity", func(t *testing.T) {
		resp, body := get(t, gw.URL+"/orders/7?x=1", key.token(t, nil), forged)
		if resp.StatusCode != 200 || body != "upstream saw /base/orders/7" || resp.Header.Get("X-Upstream") != "yes" {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		r := rec.last(t)
		checkStripped(t, r)
		if got := r.Header.Get(HeaderSubject); got != "user-42" {
			t.Fatalf("%s = %q", HeaderSubject, got)
		}
		if got := r.Header.Get(HeaderScope); got != "read write" {
			t.Fatalf("%s = %q", HeaderScope, got)
		}
		raw, err := base64.RawURLEncoding.DecodeString(r.Header.Get(HeaderClaims))
		if err != nil {
			t.Fatal(err)
		}
		var claims map[string]any
		if err := json.Unmarshal(raw, &claims); err != nil || claims["sub"] != "user-42" || claims["iss"] != testIssuer {
			t.Fatalf("claims %s: %v", raw, err)
		}
		if r.URL.RawQuery != "x=1" || r.Header.Get("Authorization") == "" || r.Header.Get("X-Forwarded-For") == "" {
			t.Fatalf("forwarded request %v %v", r.URL, r.Header)
		}
	})
	t.Run("refused request never reaches the upstream", func(t *testing.T) {
		n := rec.count()
		resp, _ := get(t, gw.URL+"/orders", "", forged)
		if resp.StatusCode != 401 || rec.count() != n {
			t.Fatalf("status %d, upstream requests %d -> %d", resp.StatusCode, n, rec.count())
		}
		resp, _ = get(t, gw.URL+"/orders", key.token(t, func(c *jose.Claims) { c.Audience = jose.Audience{"x"} }), forged)
		if resp.StatusCode != 401 || rec.count() != n {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("public paths pass without identity", func(t *testing.T) {
		for _, p := range []string{"/public/a.css", "/ping"} {
			resp, _ := get(t, gw.URL+p, "", forged)
			if resp.StatusCode != 200 {
				t.Fatalf("%s: %d", p, resp.StatusCode)
			}
			r := rec.last(t)
			checkStripped(t, r)
			if r.Header.Get(HeaderSubject) != "" {
				t.Fatal("identity on an anonymous request")
			}
		}
		if resp, _ := get(t, gw.URL+"/ping/x", "", nil); resp.StatusCode != 401 {
			t.Fatalf("exact public path matched a longer one: %d", resp.StatusCode)
		}
	})
	t.Run("health is the gate's own", func(t *testing.T) {
		n := rec.count()
		resp, _ := get(t, gw.URL+HealthPath, "", nil)
		if resp.StatusCode != 200 || rec.count() != n {
			t.Fatalf("health %d, upstream hit %v", resp.StatusCode, rec.count() != n)
		}
	})
}

// TestRequestIDs: every answer carries X-Request-Id, the client's when it is
// sane, and a proxied request reaches the upstream with the same one.
func TestRequestIDs(t *testing.T) {
	t.Parallel()
	key := loadKey(t, "rsa-a.pem")
	keys := jwksServer(t, key).URL + "/jwks.json"
	rec := &upstreamRecorder{}
	up := httptest.NewServer(rec)
	t.Cleanup(up.Close)
	upURL, _ := url.Parse(up.URL)
	demo, _ := startGate(t, keys, nil)
	proxied, _ := startGate(t, keys, upURL)
	tests := []struct {
		name     string
		base     string
		path     string
		token    string
		clientID string
		keep     bool // the answer carries clientID
		upstream bool // the request reaches the upstream
	}{
		{name: "demo, generated", base: demo.URL, path: "/protected", token: key.token(t, nil)},
		{name: "demo, the client's", base: demo.URL, path: "/protected", token: key.token(t, nil), clientID: "req-1", keep: true},
		{name: "demo, refused", base: demo.URL, path: "/protected", clientID: "req-2", keep: true},
		{name: "demo, unsafe", base: demo.URL, path: "/", clientID: "a b"},
		{name: "proxy, generated", base: proxied.URL, path: "/x", token: key.token(t, nil), upstream: true},
		{name: "proxy, the client's", base: proxied.URL, path: "/x", token: key.token(t, nil), clientID: "req-3", keep: true, upstream: true},
		{name: "proxy, unsafe", base: proxied.URL, path: "/x", token: key.token(t, nil), clientID: "a\tb", upstream: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tt.clientID != "" {
				hdr["X-Request-Id"] = tt.clientID
			}
			resp, body := get(t, tt.base+tt.path, tt.token, hdr)
			id := resp.Header.Values("X-Request-Id")
			if len(id) != 1 || (tt.keep && id[0] != tt.clientID) || (!tt.keep && (id[0] == tt.clientID || len(id[0]) != 16)) {
				t.Fatalf("X-Request-Id %q for a client's %q; status %d %s", id, tt.clientID, resp.StatusCode, body)
			}
			if tt.upstream {
				if got := rec.last(t).Header.Values("X-Request-Id"); len(got) != 1 || got[0] != id[0] {
					t.Fatalf("the upstream saw X-Request-Id %q, the client %q", got, id[0])
				}
			}
		})
	}
}

func TestProxyUpstreamDown(t *testing.T) {
	t.Parallel()
	key := loadKey(t, "rsa-a.pem")
	up := httptest.NewServer(http.NotFoundHandler())
	upURL, _ := url.Parse(up.URL)
	up.Close()
	gw, _ := startGate(t, jwksServer(t, key).URL+"/jwks.json", upURL)
	resp, body := get(t, gw.URL+"/x", key.token(t, nil), nil)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "upstream unavailable") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func TestIsAuthHeader(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"X-Auth-Subject": true, "x-auth-": true, "X_AUTH_CLAIMS": true, "X-Auth_Scope": true,
		"X-Author": false, "X-Auth": false, "Authorization": false, "X-Forwarded-For": false,
	} {
		if got := isAuthHeader(name); got != want {
			t.Errorf("isAuthHeader(%q) = %v", name, got)
		}
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	v, err := verifier.New(verifier.Config{Keys: verifier.StaticKeys(&jose.JWKS{}), Issuers: []string{"i"}, Audiences: []string{"a"}, Algorithms: []jose.Algorithm{jose.RS256}})
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []Config{
		{},
		{Verifier: v, Upstream: &url.URL{Path: "/relative"}},
		{Verifier: v, PublicPaths: []string{"nope"}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
	if _, err := New(Config{Verifier: v}); err != nil {
		t.Fatal(err)
	}
}
