package gate

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/verifier"
)

// segmentUpstream is an upstream that routes as Go's ServeMux does, on the
// segments of the escaped path ("/orders%2Fx" is one segment), and records
// the pattern that served each request and the request target it received.
type segmentUpstream struct {
	mux *http.ServeMux

	mu      sync.Mutex
	pattern string
	target  string
}

func newSegmentUpstream() *segmentUpstream {
	u := &segmentUpstream{mux: http.NewServeMux()}
	for _, p := range []string{"GET /{$}", "GET /static/{file...}", "GET /orders/{id}", "/admin/{rest...}", "GET /me", "/{page}", "/{page}/{rest...}", "POST /orders/{rest...}"} {
		u.mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			u.mu.Lock()
			u.pattern, u.target = r.Pattern, r.RequestURI
			u.mu.Unlock()
			w.WriteHeader(http.StatusTeapot)
		})
	}
	return u
}

func (u *segmentUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) { u.mux.ServeHTTP(w, r) }

// take returns and forgets the pattern and target of the last request.
func (u *segmentUpstream) take() (pattern, target string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	pattern, target = u.pattern, u.target
	u.pattern, u.target = "", ""
	return pattern, target
}

// TestPolicyAttackEscapedSeparators sends paths with encoded separators
// ("%2F", "%5C"), encoded dots and double encodings ("%252F") to a gate in
// front of an upstream that routes on escaped segments, as Go's ServeMux
// and many frameworks do. Whatever the gate lets through, the upstream
// must serve it by the handler of the route whose requirements the gate
// checked. By default (encoded-slashes: reject) a path with an encoded
// "/" or "\", or with a double-encoded separator or dot, is refused with
// 400 and a JSON body, and nothing is forwarded; with decode, it is
// forwarded as the decoded, cleaned path that the gate matched.
func TestPolicyAttackEscapedSeparators(t *testing.T) {
	t.Parallel()
	const (
		refused400 = http.StatusBadRequest
		served     = http.StatusTeapot
	)
	type row struct {
		name, target, token string
		reject, decode      int    // the status under each setting
		forwarded           string // under decode, the target the upstream receives ("" for not forwarded)
	}
	tests := []row{
		{"encoded slash to a handler no route exposes", "/orders%2Fsecret", "reader", refused400, served, "/orders/secret"},
		{"lower-case encoded slash", "/orders%2fsecret", "reader", refused400, served, "/orders/secret"},
		{"encoded slash under a stricter prefix", "/admin%2Fusers", "reader", refused400, http.StatusForbidden, ""},
		{"encoded slash under a stricter prefix, admin", "/admin%2Fusers", "admin", refused400, served, "/admin/users"},
		{"encoded slash and dot-dot to admin", "/orders%2F..%2Fadmin/x", "reader", refused400, http.StatusForbidden, ""},
		{"encoded slash dot-dots out of an id", "/orders/1%2F..%2F..%2Fadmin", "reader", refused400, http.StatusNotFound, ""},
		{"encoded slash in an id", "/orders/a%2Fb", "reader", refused400, served, "/orders/a/b"},
		{"encoded slash under a public prefix", "/static%2Fsecret", "", refused400, served, "/static/secret"},
		{"encoded slash inside a public prefix", "/static/a%2Fb", "", refused400, served, "/static/a/b"},
		{"encoded backslash", "/orders/a%5Cb", "reader", refused400, http.StatusNotFound, ""},
		{"lower-case encoded backslash", "/orders/..%5cadmin", "reader", refused400, http.StatusNotFound, ""},
		{"double-encoded slash", "/orders%252Fsecret", "reader", refused400, refused400, ""},
		{"double-encoded dots", "/orders/%252e%252e/admin", "reader", refused400, refused400, ""},
		{"double-encoded upper-case dots", "/orders/%252E%252E/admin", "reader", refused400, refused400, ""},
		{"double-encoded backslash", "/orders/a%255Cb", "reader", refused400, refused400, ""},
		{"triple-encoded slash", "/orders%25252Fsecret", "reader", refused400, refused400, ""},
		{"encoded dot-dot, no slash encoded", "/orders/%2e%2e/admin/x", "reader", http.StatusForbidden, http.StatusForbidden, ""},
		{"encoded dot-dot to orders", "/admin/%2E%2E/orders/1", "reader", served, served, "/orders/1"},
		{"encoded dot in a name", "/orders/a%2Eb", "reader", served, served, "/orders/a%2Eb"},
		{"encoded letter", "/%6Frders/1", "reader", served, served, "/%6Frders/1"},
		{"encoded percent in an id", "/orders/100%25", "reader", served, served, "/orders/100%25"},
		{"plain", "/orders/1", "reader", served, served, "/orders/1"},
	}
	for _, mode := range []string{"", "reject", "decode"} {
		t.Run("mode="+mode, func(t *testing.T) {
			t.Parallel()
			src := testPolicy
			if mode != "" {
				src = strings.Replace(src, "default: deny\n", "default: deny\npaths:\n  encoded-slashes: "+mode+"\n", 1)
			}
			up := newSegmentUpstream()
			g := newPolicyGate(t, src, up)
			tokens := map[string]string{
				"":       "",
				"reader": g.kw.token(t, func(c *jose.Claims) { c.Extra["scope"] = "read" }),
				"admin":  g.kw.token(t, func(c *jose.Claims) { c.Extra["roles"] = []any{"admin"}; c.Extra["tenant"] = "acme" }),
			}
			for _, tt := range tests {
				w := g.do(t, "GET", tt.target, tokens[tt.token])
				pattern, got := up.take()
				want := tt.reject
				if mode == "decode" {
					want = tt.decode
				}
				if w.Code != want {
					t.Errorf("%s: GET %s: status %d (upstream pattern %q), want %d", tt.name, tt.target, w.Code, pattern, want)
					continue
				}
				if w.Code == refused400 {
					var body map[string]string
					if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body["error"] == "" || w.Header().Get("Content-Type") != "application/json" {
						t.Errorf("%s: 400 with body %q (%v), want a JSON error", tt.name, w.Body, err)
					}
				}
				if w.Code != served {
					if got != "" {
						t.Errorf("%s: refused with %d, yet the upstream received %q", tt.name, w.Code, got)
					}
					continue
				}
				in, err := url.ParseRequestURI(tt.target)
				if err != nil {
					t.Fatal(err)
				}
				checkSameRoute(t, g.ps.Policy(), in.Path, got, pattern)
				if mode == "decode" && tt.forwarded != "" && got != tt.forwarded {
					t.Errorf("%s: upstream received %q, want %q", tt.name, got, tt.forwarded)
				}
			}
		})
	}
}

// checkSameRoute checks that the request target got, which the upstream
// received for a request whose decoded path was path, is decided by the
// same route of p as path, read either way: decoded, or segment by segment
// on the escaped path as pattern's ServeMux did. So the target holds no
// encoded "/" or "\" and no double encoding.
func checkSameRoute(t *testing.T, p *Policy, path, got, pattern string) {
	t.Helper()
	u, err := url.ParseRequestURI(got)
	if err != nil {
		t.Fatalf("upstream received %q: %v", got, err)
	}
	decided := p.RouteName("GET", path)
	if r := p.RouteName("GET", u.Path); r != decided {
		t.Errorf("the gate checked %q as route %s; the upstream received %q, route %s", path, decided, got, r)
	}
	esc := strings.ToUpper(u.EscapedPath())
	for _, bad := range []string{"%2F", "%5C", "%252F", "%252E", "%255C", "%2525"} {
		if strings.Contains(esc, bad) {
			t.Errorf("the gate checked %q as route %s; the upstream received %q, which its ServeMux served by %q, another route", path, decided, got, pattern)
		}
	}
}

// TestPolicyEncodedSlashesSetting checks the policy file's setting:
// reject by default, decode when asked, anything else an error with the
// line.
func TestPolicyEncodedSlashesSetting(t *testing.T) {
	t.Parallel()
	head := "issuers:\n  a:\n    issuer: https://a\n    audiences: [x]\n"
	tests := []struct {
		name, src string
		want      string
		line      int // of the error, 0 for none
	}{
		{"default", head, EncodedSlashesReject, 0},
		{"reject", head + "paths:\n  encoded-slashes: reject\n", EncodedSlashesReject, 0},
		{"decode", head + "paths:\n  encoded-slashes: decode\n", EncodedSlashesDecode, 0},
		{"unknown value", head + "paths:\n  encoded-slashes: keep\n", "", 6},
		{"unknown key", head + "paths:\n  merge-slashes: true\n", "", 6},
		{"not a mapping", head + "paths: reject\n", "", 5},
		{"twice", head + "paths:\n  encoded-slashes: reject\n  encoded-slashes: decode\n", "", 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec, err := ParsePolicy("p.yaml", []byte(tt.src))
			if tt.line != 0 {
				pe, ok := err.(*PolicyError)
				if !ok || pe.Line != tt.line {
					t.Fatalf("error %v, want a policy error on line %d", err, tt.line)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if spec.EncodedSlashes != tt.want {
				t.Errorf("EncodedSlashes %q, want %q", spec.EncodedSlashes, tt.want)
			}
		})
	}
}

// TestPublicEscapedSeparators checks the gate without a policy, with
// public paths (--public): a path with an encoded "/" or "\", or a
// double-encoded separator, is refused with 400 whatever the token, since
// the public paths are matched on the decoded path that an upstream
// routing on segments does not serve. Without public paths every path
// needs the same token, and such paths are forwarded as before.
func TestPublicEscapedSeparators(t *testing.T) {
	t.Parallel()
	k := loadKey(t, "rsa-a.pem")
	v, err := verifier.New(verifier.Config{
		Keys:       verifier.StaticKeys(&jose.JWKS{Keys: []*jose.JWK{k.pub}}),
		Issuers:    []string{testIssuer},
		Audiences:  []string{testAudience},
		Algorithms: []jose.Algorithm{jose.RS256},
	})
	if err != nil {
		t.Fatal(err)
	}
	up := newSegmentUpstream()
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	tok := k.token(t, nil)
	for _, public := range [][]string{{"/static/*", "/"}, nil} {
		h, err := New(Config{Verifier: v, Upstream: u, PublicPaths: public})
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			target, token string
			status        int // with public paths; without, the upstream's or 401
		}{
			{"/static%2Fsecret", "", http.StatusBadRequest},
			{"/static%2Fsecret", tok, http.StatusBadRequest},
			{"/orders%2Fsecret", tok, http.StatusBadRequest},
			{"/orders/a%5Cb", tok, http.StatusBadRequest},
			{"/orders/%252e%252e/admin", tok, http.StatusBadRequest},
			{"/static/app.js", "", http.StatusTeapot},
			{"/orders/1", tok, http.StatusTeapot},
			{"/orders/%2e%2e/static/x", "", http.StatusUnauthorized},
		} {
			r := httptest.NewRequest("GET", tt.target, nil)
			if tt.token != "" {
				r.Header.Set("Authorization", "Bearer "+tt.token)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			_, got := up.take()
			want := tt.status
			if public == nil {
				switch {
				case tt.token == "":
					want = http.StatusUnauthorized
				case want == http.StatusBadRequest:
					want = http.StatusTeapot
				}
			}
			if w.Code != want {
				t.Errorf("public %v: GET %s: status %d, want %d", public, tt.target, w.Code, want)
			}
			if w.Code != http.StatusTeapot && got != "" {
				t.Errorf("public %v: GET %s: refused, yet forwarded as %q", public, tt.target, got)
			}
		}
	}
}

// FuzzEscapedPath checks encodedSlash and doubleEncoded against a plain
// reading: an upper-cased search for the encodings they look for.
func FuzzEscapedPath(f *testing.F) {
	for _, s := range []string{"/", "/a%2Fb", "/a%2fb", "%", "%2", "/%25", "/a%5c", "/%2e%2E", "%%2F", "/a%252F"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		up := strings.ToUpper(p)
		if got, want := encodedSlash(p), strings.Contains(up, "%2F"); got != want {
			t.Errorf("encodedSlash(%q) = %v, want %v", p, got, want)
		}
		want := false
		for _, enc := range []string{"%2F", "%5C", "%2E", "%25"} {
			want = want || strings.Contains(up, enc)
		}
		if got := doubleEncoded(p); got != want {
			t.Errorf("doubleEncoded(%q) = %v, want %v", p, got, want)
		}
	})
}
