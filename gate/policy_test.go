package gate

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/jwks"
	"github.com/keyward/keyward/verifier"
)

const legacyIssuer = "http://localhost:4000"

// testPolicy is a policy over two issuers: "keyward" (testIssuer) and
// "legacy", the Node recipe's http://localhost:4000.
const testPolicy = `
default: deny
issuers:
  keyward:
    issuer: https://issuer.example
    audiences: [api]
    algs: [RS256]
  legacy:
    issuer: http://localhost:4000
    key-files: legacy.pem
    audiences: api
routes:
  - name: home
    path: /
    public: true
  - name: static
    path: /static/*
    methods: [GET]
    public: true
  - name: orders-read
    path: /orders/*
    methods: [GET]
    issuers: [keyward, legacy]
    any-scope: [read, read:orders]
  - name: orders-write
    path: /orders/*
    methods: [POST, PUT, DELETE]
    issuers: [keyward]
    all-scopes: [write:orders]
  - name: admin
    path: /admin/*
    issuers: keyward
    any-role: [admin]
    claims:
      tenant: {any: [acme]}
  - name: me
    path: /me
`

// policyGate is a gate over testPolicy with static keys for both issuers;
// the keyward issuer's keys come through a counting key source.
type policyGate struct {
	h        http.Handler
	ps       *Policies
	kw, lg   *testKey
	lookups  *atomic.Int64
	counters *countingPolicyObserver
}

type countingKeySet struct {
	verifier.KeySet
	n *atomic.Int64
}

func (c countingKeySet) Keys(ctx context.Context, kid string) (jose.KeySet, error) {
	c.n.Add(1)
	return c.KeySet.Keys(ctx, kid)
}

// countingPolicyObserver keeps each counter by "route/issuer/outcome".
type countingPolicyObserver struct {
	mu sync.Mutex
	m  map[string]*atomic.Int64
}

type atomicCounter struct{ n *atomic.Int64 }

func (c atomicCounter) Inc() { c.n.Add(1) }

func (o *countingPolicyObserver) Counter(route, issuer, outcome string) Counter {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := route + "/" + issuer + "/" + outcome
	if o.m[k] == nil {
		o.m[k] = new(atomic.Int64)
	}
	return atomicCounter{o.m[k]}
}

func (o *countingPolicyObserver) get(k string) int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	if c := o.m[k]; c != nil {
		return c.Load()
	}
	return 0
}

// compileTestPolicy parses src and compiles it over static keys: kw for
// "keyward", lg for "legacy".
func compileTestPolicy(t testing.TB, src string, kw, lg *testKey, lookups *atomic.Int64) (*Policy, error) {
	t.Helper()
	spec, err := ParsePolicy("policy.yaml", []byte(src))
	if err != nil {
		return nil, err
	}
	var issuers []verifier.Issuer
	for _, is := range spec.Issuers {
		key := kw
		if is.Name == "legacy" {
			key = lg
		}
		var keys verifier.KeySet = verifier.StaticKeys(&jose.JWKS{Keys: []*jose.JWK{key.pub}})
		if is.Name == "keyward" {
			keys = countingKeySet{keys, lookups}
		}
		issuers = append(issuers, verifier.Issuer{Name: is.Name, Config: verifier.Config{
			Keys: keys, Issuers: []string{is.Issuer}, Audiences: is.Audiences, Algorithms: []jose.Algorithm{jose.RS256},
		}})
	}
	v, err := verifier.NewMulti(verifier.MultiConfig{Issuers: issuers})
	if err != nil {
		t.Fatal(err)
	}
	return CompilePolicy(spec, v)
}

func newPolicyGate(t testing.TB, src string, upstream http.Handler) *policyGate {
	t.Helper()
	g := &policyGate{kw: loadKey(&testing.T{}, "rsa-a.pem"), lg: loadKey(&testing.T{}, "rsa-b.pem"), lookups: new(atomic.Int64),
		counters: &countingPolicyObserver{m: map[string]*atomic.Int64{}}}
	p, err := compileTestPolicy(t, src, g.kw, g.lg, g.lookups)
	if err != nil {
		t.Fatal(err)
	}
	g.ps = NewPolicies(p)
	cfg := Config{Policies: g.ps, PolicyMetrics: g.counters}
	if upstream != nil {
		u := httptest.NewServer(upstream)
		t.Cleanup(u.Close)
		up, err := url.Parse(u.URL)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Upstream = up
	}
	g.h, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func (g *policyGate) do(t *testing.T, method, target, token string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	g.h.ServeHTTP(w, r)
	return w
}

func TestPolicyTwoIssuers(t *testing.T) {
	t.Parallel()
	g := newPolicyGate(t, testPolicy, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Route-Seen", r.URL.Path)
		w.WriteHeader(http.StatusTeapot)
	}))
	kw := func(mod func(*jose.Claims)) string { return g.kw.token(t, mod) }
	lg := func(mod func(*jose.Claims)) string {
		return g.lg.token(t, func(c *jose.Claims) {
			c.Issuer = legacyIssuer
			if mod != nil {
				mod(c)
			}
		})
	}
	admin := func(c *jose.Claims) { c.Extra["roles"] = []any{"admin"}; c.Extra["tenant"] = "acme" }
	writer := func(c *jose.Claims) { c.Extra["scope"] = "read write:orders" }
	evil := kw(func(c *jose.Claims) { c.Issuer = "https://evil.example" })
	tests := []struct {
		name, method, target, token string
		status                      int
		challenge                   string // a substring of WWW-Authenticate
	}{
		{"public home", "GET", "/", "", http.StatusTeapot, ""},
		{"public static", "GET", "/static/app.js", "", http.StatusTeapot, ""},
		{"public static HEAD", "HEAD", "/static/app.js", "", http.StatusTeapot, ""},
		{"static POST is not public", "POST", "/static/app.js", "", http.StatusNotFound, ""},
		{"read keyward", "GET", "/orders/1", kw(nil), http.StatusTeapot, ""},
		{"read legacy", "GET", "/orders/1", lg(nil), http.StatusTeapot, ""},
		{"read no token", "GET", "/orders/1", "", http.StatusUnauthorized, `Bearer realm="keyward"`},
		{"read no scope", "GET", "/orders/1", kw(func(c *jose.Claims) { c.Extra["scope"] = "profile" }), http.StatusForbidden, `scope="read read:orders"`},
		{"write keyward", "POST", "/orders/1", kw(writer), http.StatusTeapot, ""},
		{"write keyward without scope", "POST", "/orders/1", kw(nil), http.StatusForbidden, `error="insufficient_scope", error_description="insufficient scope", scope="write:orders"`},
		{"write legacy refused", "POST", "/orders/1", lg(writer), http.StatusUnauthorized, `error="invalid_token", error_description="issuer not accepted"`},
		{"PATCH matches nothing", "PATCH", "/orders/1", kw(writer), http.StatusNotFound, ""},
		{"admin", "GET", "/admin/users", kw(admin), http.StatusTeapot, ""},
		{"admin, wrong tenant", "GET", "/admin/users", kw(func(c *jose.Claims) { admin(c); c.Extra["tenant"] = "globex" }), http.StatusForbidden, `insufficient_scope`},
		{"admin, legacy", "GET", "/admin/users", lg(admin), http.StatusUnauthorized, `issuer not accepted`},
		{"me, any issuer", "DELETE", "/me", lg(nil), http.StatusTeapot, ""},
		{"unknown iss", "GET", "/orders/1", evil, http.StatusUnauthorized, `error_description="issuer not accepted"`},
		{"unmatched is 404", "GET", "/other", kw(nil), http.StatusNotFound, ""},
		{"unmatched without token is 404", "GET", "/other", "", http.StatusNotFound, ""},
		{"prefix does not match its bare path", "GET", "/orders", kw(nil), http.StatusNotFound, ""},
		// Paths are matched cleaned: the public routes only when clean.
		{"dot-dot to admin", "GET", "/static/../admin/users", kw(nil), http.StatusForbidden, "insufficient_scope"},
		{"encoded dot-dot to admin", "GET", "/static/%2e%2e/admin/users", "", http.StatusUnauthorized, `Bearer realm="keyward"`},
		{"double slash static", "GET", "/static//app.js", "", http.StatusNotFound, ""},
		{"dot-dot to public", "GET", "/orders/../", "", http.StatusNotFound, ""},
		{"asterisk", "OPTIONS", "*", "", http.StatusNotFound, ""},
		{"health is the gate's", "GET", HealthPath, "", http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := g.do(t, tt.method, tt.target, tt.token)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			if got := w.Header().Get("WWW-Authenticate"); !strings.Contains(got, tt.challenge) {
				t.Errorf("WWW-Authenticate %q, want it to hold %q", got, tt.challenge)
			}
		})
	}
	if n := g.lookups.Load(); n == 0 {
		t.Error("the keyward issuer's keys were never asked: the counter counts nothing")
	}
	for k, want := range map[string]int64{
		"orders-read/keyward/allowed":  1,
		"orders-read/legacy/allowed":   1,
		"orders-write/legacy/refused":  1,
		"orders-write/keyward/refused": 1,
		"unmatched//refused":           8,
		"home//allowed":                1,
	} {
		if got := g.counters.get(k); got != want {
			t.Errorf("counter %s = %d, want %d", k, got, want)
		}
	}
}

// TestPolicyUnknownIssuerNoLookup checks that a token whose iss is no
// configured issuer's never reaches a key source, whatever its kid.
func TestPolicyUnknownIssuerNoLookup(t *testing.T) {
	t.Parallel()
	g := newPolicyGate(t, testPolicy, nil)
	for i := range 50 {
		tok := g.kw.token(t, func(c *jose.Claims) { c.Issuer = "https://evil.example/" + strings.Repeat("a", i) })
		if w := g.do(t, "GET", "/orders/1", tok); w.Code != http.StatusUnauthorized {
			t.Fatalf("status %d", w.Code)
		}
	}
	if n := g.lookups.Load(); n != 0 {
		t.Errorf("key lookups = %d, want 0", n)
	}
}

// TestPolicyUnknownIssuerNoFetch is the same with a remote key set: no
// fetch at all.
func TestPolicyUnknownIssuerNoFetch(t *testing.T) {
	t.Parallel()
	var fetches atomic.Int64
	srv := jwksServer(t, loadKey(t, "rsa-a.pem"))
	set, err := jwks.New(jwks.Config{URL: srv.URL, Client: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		fetches.Add(1)
		return http.DefaultTransport.RoundTrip(r)
	})}})
	if err != nil {
		t.Fatal(err)
	}
	spec, err := ParsePolicy("p.yaml", []byte("issuers:\n  kw:\n    issuer: https://issuer.example\n    audiences: [api]\nroutes:\n  - name: all\n    path: /*\n"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.NewMulti(verifier.MultiConfig{Issuers: []verifier.Issuer{{Name: "kw", Config: verifier.Config{
		Keys: set, Issuers: []string{testIssuer}, Audiences: []string{testAudience}, Algorithms: []jose.Algorithm{jose.RS256},
	}}}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := CompilePolicy(spec, v)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Policies: NewPolicies(p)})
	if err != nil {
		t.Fatal(err)
	}
	key := loadKey(t, "rsa-a.pem")
	for i := range 20 {
		tok := key.token(t, func(c *jose.Claims) { c.Issuer = "https://evil.example/" + strings.Repeat("b", i) })
		r := httptest.NewRequest("GET", "/protected", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("status %d", w.Code)
		}
	}
	if n := fetches.Load(); n != 0 {
		t.Fatalf("fetches = %d, want 0", n)
	}
	// The demo API's /protected with a good token fetches once.
	r := httptest.NewRequest("GET", "/protected", nil)
	r.Header.Set("Authorization", "Bearer "+key.token(t, nil))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK || fetches.Load() == 0 {
		t.Fatalf("good token: status %d, fetches %d", w.Code, fetches.Load())
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestPolicyAllowAuthenticated(t *testing.T) {
	t.Parallel()
	g := newPolicyGate(t, strings.Replace(testPolicy, "default: deny", "default: allow-authenticated", 1), nil)
	if w := g.do(t, "GET", "/protected", ""); w.Code != http.StatusUnauthorized {
		t.Errorf("no token: status %d, want 401", w.Code)
	}
	if w := g.do(t, "GET", "/protected", g.kw.token(t, nil)); w.Code != http.StatusOK {
		t.Errorf("valid token: status %d, want 200", w.Code)
	}
	if got := g.ps.Policy().Default(); got != DefaultAllowAuthenticated {
		t.Errorf("Default() = %s", got)
	}
}

// TestPolicyStore checks that a stored policy takes effect for the next
// request, and that a request in flight finishes under the policy it
// started with.
func TestPolicyStore(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}), make(chan struct{})
	g := newPolicyGate(t, testPolicy, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			<-release
		}
		w.WriteHeader(http.StatusOK)
	}))
	tighter, err := compileTestPolicy(t, strings.Replace(testPolicy, "  - name: me\n    path: /me\n", "  - name: slow\n    path: /slow\n    public: true\n", 1), g.kw, g.lg, g.lookups)
	if err != nil {
		t.Fatal(err)
	}
	if w := g.do(t, "GET", "/slow", ""); w.Code != http.StatusNotFound {
		t.Fatalf("before: status %d", w.Code)
	}
	g.ps.Store(tighter)
	done := make(chan int)
	go func() {
		r := httptest.NewRequest("GET", "/slow", nil)
		w := httptest.NewRecorder()
		g.h.ServeHTTP(w, r)
		done <- w.Code
	}()
	<-started
	old, err := compileTestPolicy(t, testPolicy, g.kw, g.lg, g.lookups)
	if err != nil {
		t.Fatal(err)
	}
	g.ps.Store(old) // while /slow is in flight
	close(release)
	if code := <-done; code != http.StatusOK {
		t.Errorf("in flight: status %d, want 200 under the policy it started with", code)
	}
	if w := g.do(t, "GET", "/slow", ""); w.Code != http.StatusNotFound {
		t.Errorf("after: status %d", w.Code)
	}
	if w := g.do(t, "DELETE", "/me", g.kw.token(t, nil)); w.Code != http.StatusOK {
		t.Errorf("after: /me status %d", w.Code)
	}
}

func TestParsePolicyErrors(t *testing.T) {
	t.Parallel()
	issuers := "issuers:\n  kw:\n    issuer: https://a.example\n    audiences: [api]\n"
	tests := []struct {
		name, src string
		line      int
		msg       string
	}{
		{"empty", "", 0, "empty"},
		{"unknown top key", issuers + "rutes: []\n", 5, `unknown key "rutes"`},
		{"unknown issuer key", "issuers:\n  kw:\n    issuer: https://a.example\n    audience: [api]\n", 4, `unknown key "audience"`},
		{"unknown route key", issuers + "routes:\n  - name: a\n    path: /a\n    scopes: [x]\n", 8, `unknown key "scopes"`},
		{"bad default", "default: allow\n" + issuers, 1, "default"},
		{"no issuers", "routes: []\n", 1, "no issuers"},
		{"issuer without audiences", "issuers:\n  kw:\n    issuer: https://a.example\n", 2, "audiences"},
		{"issuer bad name", "issuers:\n  Kw:\n    issuer: x\n    audiences: a\n", 2, "issuer name"},
		{"two issuers same iss", issuers + "  kw2:\n    issuer: https://a.example\n    audiences: [api]\n", 5, "already issuer kw"},
		{"jwks-url and key-files", "issuers:\n  kw:\n    issuer: x\n    audiences: a\n    jwks-url: http://x\n    key-files: a.pem\n", 2, "not both"},
		{"bad leeway", "issuers:\n  kw:\n    issuer: x\n    audiences: a\n    leeway: soon\n", 5, "leeway"},
		{"duplicate key", issuers + "issuers: {}\n", 5, "already given on line 1"},
		{"undefined issuer", issuers + "routes:\n  - name: a\n    path: /a\n    issuers: [nope]\n", 6, `issuer "nope" is not defined`},
		{"duplicate route", issuers + "routes:\n  - name: a\n    path: /a\n  - name: b\n    path: /a\n", 8, "route b can never match: route a (line 6)"},
		{"shadowed by prefix", issuers + "routes:\n  - name: a\n    path: /api/*\n  - name: b\n    path: /api/v1/*\n    methods: [GET]\n", 8, "route b can never match"},
		{"shadowed exact", issuers + "routes:\n  - name: a\n    path: /*\n    methods: [GET, POST]\n  - name: b\n    path: /x\n    methods: [HEAD]\n", 9, "route b can never match"},
		{"duplicate name", issuers + "routes:\n  - name: a\n    path: /a\n  - name: a\n    path: /b\n", 8, "already used on line 6"},
		{"route without name", issuers + "routes:\n  - path: /a\n", 6, "route name"},
		{"reserved name", issuers + "routes:\n  - name: unmatched\n    path: /a\n", 6, "gate's own"},
		{"unclean path", issuers + "routes:\n  - name: a\n    path: /a/../b\n", 6, "not clean"},
		{"prefix without slash", issuers + "routes:\n  - name: a\n    path: /a*\n", 6, "ends with /*"},
		{"relative path", issuers + "routes:\n  - name: a\n    path: a\n", 6, "does not start with /"},
		{"bad method", issuers + "routes:\n  - name: a\n    path: /a\n    methods: [get]\n", 6, "method"},
		{"public with scopes", issuers + "routes:\n  - name: a\n    path: /a\n    public: true\n    any-scope: x\n", 6, "public route takes no"},
		{"public not bool", issuers + "routes:\n  - name: a\n    path: /a\n    public: yes\n", 8, "true or false"},
		{"claim without all or any", issuers + "routes:\n  - name: a\n    path: /a\n    claims:\n      tenant: {}\n", 9, "give all or any"},
		{"alias", issuers + "routes:\n  - &r {name: a, path: /a}\n", 6, "anchors"},
		{"two documents", issuers + "---\na: 1\n", 5, "one YAML document"},
		{"routes not a list", issuers + "routes: {a: 1}\n", 5, "must be a list"},
		{"syntax", issuers + "routes: [\n", 5, "did not find expected node content"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePolicy("p.yaml", []byte(tt.src))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrPolicy) {
				t.Errorf("%v does not wrap ErrPolicy", err)
			}
			if tt.line > 0 && !strings.HasPrefix(err.Error(), "p.yaml:"+strconv.Itoa(tt.line)+":") {
				t.Errorf("error %q is not on line %d", err, tt.line)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
		})
	}
}

func TestPolicyMatch(t *testing.T) {
	t.Parallel()
	p, err := compileTestPolicy(t, testPolicy, loadKey(t, "rsa-a.pem"), loadKey(t, "rsa-b.pem"), new(atomic.Int64))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ method, path, route string }{
		{"GET", "/", "home"},
		{"POST", "/", "home"},
		{"GET", "/static/", "static"},
		{"HEAD", "/static/x/y", "static"},
		{"PUT", "/static/x", "unmatched"},
		{"GET", "/static", "unmatched"},
		{"GET", "/orders/", "orders-read"},
		{"GET", "/orders/7/items", "orders-read"},
		{"DELETE", "/orders/7", "orders-write"},
		{"PATCH", "/orders/7", "unmatched"},
		{"PROPFIND", "/admin/x", "admin"},
		{"GET", "/me", "me"},
		{"GET", "/me/", "unmatched"},
		{"GET", "/static/./x", "unmatched"},
		{"GET", "/x/../orders/1", "orders-read"},
		{"GET", "//orders//1", "orders-read"},
		{"GET", "/orders/1/..", "unmatched"},
		{"GET", "", "unmatched"},
	}
	for _, tt := range tests {
		if got := p.RouteName(tt.method, tt.path); got != tt.route {
			t.Errorf("%s %s: route %s, want %s", tt.method, tt.path, got, tt.route)
		}
	}
}

func TestPolicyMatchAllocations(t *testing.T) {
	p, err := compileTestPolicy(t, testPolicy, loadKey(t, "rsa-a.pem"), loadKey(t, "rsa-b.pem"), new(atomic.Int64))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/orders/7/items", "/static/", "/me", "/nothing"} {
		if n := testing.AllocsPerRun(100, func() { p.match("GET", path) }); n != 0 {
			t.Errorf("match %s allocates %v times", path, n)
		}
	}
}

// TestPolicyDocExample parses the policy file docs/configuration.md shows.
func TestPolicyDocExample(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(doc), "```yaml\n# policy.yaml")
	if i < 0 {
		t.Fatal("docs/configuration.md shows no policy.yaml")
	}
	block, _, ok := strings.Cut(string(doc)[i+len("```yaml\n"):], "```")
	if !ok {
		t.Fatal("docs/configuration.md shows no policy.yaml")
	}
	spec, err := ParsePolicy("policy.yaml", []byte(block))
	if err != nil {
		t.Fatal(err)
	}
	if len(spec.Issuers) != 3 || len(spec.Routes) != 4 || spec.Default != DefaultDeny {
		t.Errorf("parsed %d issuers, %d routes, default %s", len(spec.Issuers), len(spec.Routes), spec.Default)
	}
}
