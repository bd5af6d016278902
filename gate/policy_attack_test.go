package gate

import (
	"bufio"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/jose"
)

// recordingUpstream records the request target of every request it
// receives, as its own router would read it.
type recordingUpstream struct {
	mu   sync.Mutex
	last string
}

func (u *recordingUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.last = r.RequestURI
	u.mu.Unlock()
	w.WriteHeader(http.StatusTeapot)
}

func (u *recordingUpstream) take() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.last
	u.last = ""
	return s
}

// TestPolicyAttackUpstreamPath sends paths that an upstream may read
// differently from the gate, and checks that every request the gate lets
// through reaches the upstream with a path that is clean as received, so
// that an upstream that does not remove dot segments (Express, a handler
// matching on the raw path) serves the very route the gate decided: the
// route the gate chose is the route of the path the upstream receives.
func TestPolicyAttackUpstreamPath(t *testing.T) {
	t.Parallel()
	up := &recordingUpstream{}
	g := newPolicyGate(t, testPolicy, up)
	reader := g.kw.token(t, func(c *jose.Claims) { c.Extra["scope"] = "read" })
	tests := []struct {
		name, method, target, token string
	}{
		{"dot-dot from admin to orders", "GET", "/admin/../orders/1", reader},
		{"encoded dot-dot from admin to orders", "GET", "/admin/%2e%2e/orders/1", reader},
		{"encoded slash dot-dot from admin to orders", "GET", "/admin/x%2f..%2f..%2forders/1", reader},
		{"double slash", "GET", "//orders/1", reader},
		{"dot segment", "GET", "/orders/./1", reader},
		{"dot-dot to static", "GET", "/admin/../static/app.js", ""},
		{"encoded letter", "GET", "/%6frders/1", reader},
		{"absolute form", "GET", "http://upstream.example/admin/../orders/1", reader},
		{"HEAD", "HEAD", "/admin/../orders/1", reader},
		{"query kept", "GET", "/admin/../orders/1?a=/admin/../x", reader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := g.do(t, tt.method, tt.target, tt.token)
			got := up.take()
			if w.Code != http.StatusTeapot {
				// Refused: the upstream saw nothing, which is safe.
				if got != "" {
					t.Fatalf("refused with %d, yet the upstream received %q", w.Code, got)
				}
				return
			}
			u, err := url.ParseRequestURI(got)
			if err != nil {
				t.Fatalf("upstream received %q: %v", got, err)
			}
			for _, p := range []string{u.EscapedPath(), u.Path} {
				if c := path.Clean(p); c != p && c+"/" != p {
					t.Errorf("upstream received the path %q, not clean: an upstream that does not remove dot segments serves another route than %s", p, g.ps.Policy().RouteName(tt.method, u.Path))
				}
			}
			in, err := url.ParseRequestURI(tt.target)
			if err != nil {
				t.Fatal(err)
			}
			if want := g.ps.Policy().RouteName(tt.method, in.Path); g.ps.Policy().RouteName(tt.method, u.Path) != want {
				t.Errorf("upstream path %q is route %s, the gate decided by route %s", u.Path, g.ps.Policy().RouteName(tt.method, u.Path), want)
			}
			if strings.Contains(tt.target, "?") && u.RawQuery != "a=/admin/../x" {
				t.Errorf("query %q, want it as sent", u.RawQuery)
			}
		})
	}
}

// TestPolicyAttackPublicSpellings sends, without a token, paths under a
// public prefix that servers other than Go's read as another path: Tomcat,
// Jetty and Spring take "..;x" for a ".." segment and drop ";" parameters,
// IIS and ASP.NET take "\" for "/". None of them may pass as public: each
// goes on to the routes that need a token, here none, so 404; a path with
// a "\", encoded or not, is refused with 400 under encoded-slashes: reject.
func TestPolicyAttackPublicSpellings(t *testing.T) {
	t.Parallel()
	up := &recordingUpstream{}
	g := newPolicyGate(t, testPolicy, up)
	for _, target := range []string{
		"/static/..;/admin/users",
		"/static/..;x=1/admin/users",
		"/static/.;/app.js",
		"/static/..%3B/admin/users",
		"/static/..%5Cadmin%5Cusers",
		"/static/..%5cadmin/users",
		`/static/..\admin\users`,
	} {
		t.Run(target, func(t *testing.T) {
			w := g.do(t, "GET", target, "")
			if got, want := up.take(), backslashStatus(target); w.Code != want || got != "" {
				t.Errorf("status %d, upstream received %q; want %d and nothing forwarded", w.Code, got, want)
			}
		})
	}
	// Clean paths under the prefix stay public.
	if w := g.do(t, "GET", "/static/app.js", ""); w.Code != http.StatusTeapot {
		t.Errorf("/static/app.js: status %d, want the upstream's", w.Code)
	}
}

// TestPolicyAttackTokens sends tokens whose iss is almost a configured
// issuer's, of the wrong type, or missing, and tokens of one issuer dressed
// as the other's: every one is refused with 401, and none makes the
// keyward issuer's key source look a key up unless its iss is keyward's.
func TestPolicyAttackTokens(t *testing.T) {
	t.Parallel()
	up := &recordingUpstream{}
	g := newPolicyGate(t, testPolicy, up)
	exp := time.Now().Add(time.Hour).Unix()
	raw := func(k *testKey, iss string) string {
		payload := fmt.Sprintf(`{%s"sub":"u","aud":"api","exp":%d,"scope":"read"}`, iss, exp)
		tok, err := k.signer.Sign("JWT", []byte(payload))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	kwWith := func(iss string) string { return g.kw.token(t, func(c *jose.Claims) { c.Issuer = iss }) }
	tests := []struct {
		name, token string
		lookup      bool // whether keyward's keys may be asked
	}{
		{"trailing slash", kwWith(testIssuer + "/"), false},
		{"upper case", kwWith(strings.ToUpper(testIssuer)), false},
		{"cyrillic lookalike", kwWith("https://issuer.ex\u0430mple"), false},
		{"trailing space", kwWith(testIssuer + " "), false},
		{"NUL inside", kwWith(testIssuer + "\x00"), false},
		{"iss array", raw(g.kw, `"iss":["https://issuer.example"],`), false},
		{"iss number", raw(g.kw, `"iss":1,`), false},
		{"iss null", raw(g.kw, `"iss":null,`), false},
		{"no iss", raw(g.kw, ``), false},
		{"iss twice", raw(g.kw, `"iss":"http://localhost:4000","iss":"https://issuer.example",`), false},
		{"legacy iss, keyward's key", kwWith(legacyIssuer), false},
		{"keyward iss, legacy's key", g.lg.token(t, nil), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := g.lookups.Load()
			w := g.do(t, "GET", "/orders/1", tt.token)
			if w.Code != http.StatusUnauthorized || up.take() != "" {
				t.Fatalf("status %d, want 401 and nothing forwarded", w.Code)
			}
			if !tt.lookup && g.lookups.Load() != before {
				t.Error("keyward's key source was asked for a token that does not name keyward")
			}
		})
	}
}

// TestPolicyAttackEncodedRoutePath checks that a route path with "%", "?"
// or "#" is an error: requests are matched on their decoded path without
// query, so "/%61dmin/*" would never match "/admin/x", and the requests it
// was meant to guard would fall to a later, looser route.
func TestPolicyAttackEncodedRoutePath(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"/%61dmin/*", "/caf%C3%A9", "/admin?x=1", "/admin#x", "/a%2Fb"} {
		src := "issuers:\n  a:\n    issuer: https://a\n    audiences: [x]\nroutes:\n  - name: r\n    path: \"" + p + "\"\n  - name: any\n    path: /*\n"
		_, err := ParsePolicy("p.yaml", []byte(src))
		var pe *PolicyError
		if !errors.As(err, &pe) || pe.Line != 6 {
			t.Errorf("path %q: error %v, want a policy error on line 6", p, err)
		}
	}
}

// TestPolicyAttackMethodCase sends the methods of routes in lower or mixed
// case under default: allow-authenticated. Method names are
// case-sensitive (RFC 9110 §9.1), but Werkzeug (Flask) and other upstreams
// upper-case them: "post" must not pass as an unmatched request with any
// valid token while the upstream serves it as the POST that the route
// guards with a scope.
func TestPolicyAttackMethodCase(t *testing.T) {
	t.Parallel()
	up := &recordingUpstream{}
	g := newPolicyGate(t, strings.Replace(testPolicy, "default: deny", "default: allow-authenticated", 1), up)
	reader := g.kw.token(t, func(c *jose.Claims) { c.Extra["scope"] = "read" })
	for _, method := range []string{"post", "Post", "pOST", "delete", "put"} {
		t.Run(method, func(t *testing.T) {
			w := g.do(t, method, "/orders/1", reader)
			if got := up.take(); w.Code != http.StatusForbidden || got != "" {
				t.Errorf("status %d, upstream received %q; want 403 insufficient_scope as for %s", w.Code, got, strings.ToUpper(method))
			}
		})
	}
	// A read token still reads, whatever the case.
	if w := g.do(t, "get", "/orders/1", reader); w.Code != http.StatusTeapot {
		t.Errorf("get: status %d, want the upstream's", w.Code)
	}
}

// TestPolicyAttackNonPathTargets sends requests whose target is not a path
// (CONNECT's authority form, OPTIONS *) under default:
// allow-authenticated. The gate matches them as no route, while the proxy
// would send them to the upstream as "/", whose route may ask for more
// than a valid token: they are refused with 404, as under default: deny.
func TestPolicyAttackNonPathTargets(t *testing.T) {
	t.Parallel()
	up := &recordingUpstream{}
	src := strings.Replace(testPolicy, "default: deny", "default: allow-authenticated", 1)
	src = strings.Replace(src, "  - name: home\n    path: /\n    public: true\n", "  - name: home\n    path: /\n    any-role: [admin]\n", 1)
	g := newPolicyGate(t, src, up)
	tok := g.kw.token(t, nil)
	for _, raw := range []string{"CONNECT upstream.example:443 HTTP/1.1\r\nHost: upstream.example:443\r\n", "OPTIONS * HTTP/1.1\r\nHost: upstream.example\r\n"} {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw + "Authorization: Bearer " + tok + "\r\n\r\n")))
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		g.h.ServeHTTP(w, r)
		if got := up.take(); w.Code != http.StatusNotFound || got != "" {
			t.Errorf("%s %s: status %d, upstream received %q; want 404 and nothing forwarded", r.Method, r.RequestURI, w.Code, got)
		}
	}
	// The route of "/" still decides a request for "/".
	if w := g.do(t, "GET", "/", tok); w.Code != http.StatusForbidden {
		t.Errorf("GET /: status %d, want 403", w.Code)
	}
}

// TestPolicyAttackProtectedSpellings sends, with a token that may only
// read orders, paths that the gate matches under /orders/ but that Tomcat,
// Jetty or Spring ("..;" is "..") or IIS ("\" is "/") serve as /admin/...:
// they are refused with 404 (400 for a "\" under encoded-slashes: reject),
// under either default, and nothing reaches the upstream. Paths whose ";" starts no dot segment stay as they were.
func TestPolicyAttackProtectedSpellings(t *testing.T) {
	t.Parallel()
	for _, def := range []string{"deny", "allow-authenticated"} {
		t.Run(def, func(t *testing.T) {
			t.Parallel()
			up := &recordingUpstream{}
			g := newPolicyGate(t, strings.Replace(testPolicy, "default: deny", "default: "+def, 1), up)
			reader := g.kw.token(t, func(c *jose.Claims) { c.Extra["scope"] = "read" })
			for _, target := range []string{
				"/orders/..;/admin/users",
				"/orders/..;x=1/admin/users",
				"/orders/1/..;/..;/admin/users",
				"/orders/.;/1",
				"/orders/..%3B/admin/users",
				`/orders/..\admin\users`,
				"/orders/..%5Cadmin/users",
			} {
				w := g.do(t, "GET", target, reader)
				if got, want := up.take(), backslashStatus(target); w.Code != want || got != "" {
					t.Errorf("%s: status %d, upstream received %q; want %d and nothing forwarded", target, w.Code, got, want)
				}
			}
			for _, target := range []string{"/orders/1;v=2", "/orders/a;b/c", "/orders/...;/x"} {
				if w := g.do(t, "GET", target, reader); w.Code != http.StatusTeapot || up.take() != target {
					t.Errorf("%s: status %d, want it forwarded as sent", target, w.Code)
				}
			}
		})
	}
}

// backslashStatus is the status of a refused path: 400 when it holds a
// "\", encoded or not (encoded-slashes: reject), else 404 (no route).
func backslashStatus(target string) int {
	if strings.Contains(target, `\`) || strings.Contains(strings.ToUpper(target), "%5C") {
		return http.StatusBadRequest
	}
	return http.StatusNotFound
}

// FuzzAmbiguousPath checks ambiguousPath against a plain reading: a path is
// ambiguous when it holds "\" or a segment whose part before its first ";"
// is "." or "..".
func FuzzAmbiguousPath(f *testing.F) {
	for _, s := range []string{"/", "/orders/..;/admin", "/a;b", `/a\b`, "/.;", "/...;/x", ";", "/orders/1;v=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		want := strings.Contains(p, `\`)
		for _, seg := range strings.Split(p, "/") {
			if i := strings.Index(seg, ";"); i >= 0 && (seg[:i] == "." || seg[:i] == "..") {
				want = true
			}
		}
		if got := ambiguousPath(p); got != want {
			t.Errorf("ambiguousPath(%q) = %v, want %v", p, got, want)
		}
	})
}

// TestPolicyAttackEncodedSlashPublic sends, without a token, paths whose
// decoded form is under a public prefix only because of an encoded "/":
// an upstream that routes on segments (Go's ServeMux, Express) reads
// "/static%2Fsecret" as one segment at the root, not as a file under
// /static/, so it must not pass as public. Refused, nothing forwarded;
// under encoded-slashes: reject (the default) protected routes refuse such
// paths too, with 400 (see TestPolicyAttackEscapedSeparators).
func TestPolicyAttackEncodedSlashPublic(t *testing.T) {
	t.Parallel()
	up := &recordingUpstream{}
	g := newPolicyGate(t, testPolicy, up)
	for _, target := range []string{"/static%2Fsecret", "/static%2fsecret", "/static/a%2Fb"} {
		w := g.do(t, "GET", target, "")
		if got := up.take(); w.Code == http.StatusTeapot || got != "" {
			t.Errorf("%s: status %d, upstream received %q; want it refused", target, w.Code, got)
		}
	}
	reader := g.kw.token(t, func(c *jose.Claims) { c.Extra["scope"] = "read" })
	if w := g.do(t, "GET", "/orders/a%2Fb", reader); w.Code != http.StatusBadRequest || up.take() != "" {
		t.Errorf("/orders/a%%2Fb: status %d, want 400 under encoded-slashes: reject", w.Code)
	}
	if w := g.do(t, "GET", "/static/app.js", ""); w.Code != http.StatusTeapot {
		t.Errorf("/static/app.js: status %d", w.Code)
	}
}
