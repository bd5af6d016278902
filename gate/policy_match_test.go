package gate

import (
	"path"
	"strings"
	"testing"
)

// matchReference is the first-match rule written plainly, as the routes
// are documented: the cleaned path (path.Clean, keeping a trailing slash)
// against each route in order, its method, its exact path or prefix, and a
// public route only for a path that is clean already and holds no ';' and no
// backslash. A method outside the known ones counts as its upper case.
func matchReference(p *Policy, method, urlPath string) int {
	if urlPath == "" || urlPath[0] != '/' {
		return -1
	}
	clean := path.Clean(urlPath)
	if strings.HasSuffix(urlPath, "/") && clean != "/" {
		clean += "/"
	}
	isClean := clean == urlPath && !strings.ContainsAny(urlPath, `;\`)
	bit := methodBit(method)
	if bit == 0 {
		bit = methodBit(strings.ToUpper(method))
	}
	if bit == 0 {
		bit = otherMethod
	}
	for i, rt := range p.routes {
		if !rt.anyMethod && rt.mask&bit == 0 {
			continue
		}
		if rt.exact != "" && clean != rt.exact || rt.exact == "" && !strings.HasPrefix(clean, rt.prefix) {
			continue
		}
		if rt.public && !isClean {
			continue
		}
		return i
	}
	return -1
}

// matchPolicy compiles routes, one a line: a flags byte (bit 0 public,
// bits 1 to 7 the methods of methodMask's order, none for every method)
// and the route's path. Lines whose path a policy file could not hold are
// left out.
func matchPolicy(routes string) *Policy {
	p := &Policy{}
	for line := range strings.SplitSeq(routes, "\n") {
		if len(line) < 2 {
			continue
		}
		exact, prefix, err := splitRoutePath(line[1:])
		if err != nil {
			continue
		}
		flags := line[0]
		var ms []string
		for i, m := range methods {
			if flags&(2<<i) != 0 {
				ms = append(ms, m)
			}
		}
		p.routes = append(p.routes, route{name: "r", exact: exact, prefix: prefix, anyMethod: len(ms) == 0, mask: methodMask(ms), public: flags&1 != 0})
	}
	p.indexRoutes()
	return p
}

// The routes of benchPolicy, and more, in matchPolicy's form.
const matchRoutes = "\x03/\n\x03/static/*\n\x01/healthz\n\x02/orders/*\n\x58/orders/*\n\x00/admin/*\n\x00/reports/*\n\x00/me\n\x00/partners/*\n\x02/protected\n" +
	"\x00/protected/longer/than/eight/*\n\x01/a\n\x00/ab/*\n\x01/abcdefgh\n\x00/abcdefgh/*\n\x80/x/*\n\x00/*\n"

func TestPolicyMatchCompiled(t *testing.T) {
	t.Parallel()
	p := matchPolicy(matchRoutes)
	tests := []struct {
		method, path string
		want         int
	}{
		{"GET", "/", 0},
		{"HEAD", "/", 0},
		{"POST", "/", 16},
		{"GET", "/static/app.js", 1},
		{"GET", "/static/../protected", 9},
		{"GET", "/static//x", 16}, // not clean: past the public route
		{"PURGE", "/healthz", 2},
		{"GET", "/orders/1", 3},
		{"DELETE", "/orders/1", 4},
		{"PATCH", "/orders/1", 16},
		{"GET", "/orders", 16},
		{"GET", "/protected", 9},
		{"POST", "/protected", 16},
		{"GET", "/protected/", 16},
		{"GET", "/protected/longer/than/eight/x", 10},
		{"GET", "/protected/longer/than/eight", 16},
		{"GET", "/a", 11},
		{"GET", "/a/", 16},
		{"GET", "/ab/", 12},
		{"GET", "/abcdefgh", 13},
		{"GET", "/abcdefgh/", 14},
		{"GET", "/abcdefgi", 16},
		{"OPTIONS", "/x/y", 15},
		{"GET", "/x/y", 16},
		{"GET", "*", -1},
		{"GET", "", -1},
	}
	for _, tt := range tests {
		if got := p.match(tt.method, tt.path); got != tt.want {
			t.Errorf("match(%s %q) = %d, want %d", tt.method, tt.path, got, tt.want)
		}
		if ref := matchReference(p, tt.method, tt.path); ref != tt.want {
			t.Errorf("matchReference(%s %q) = %d, want %d", tt.method, tt.path, ref, tt.want)
		}
	}
}

// FuzzPolicyMatch checks the compiled matching of routes against
// matchReference, and requestPath against path.Clean.
func FuzzPolicyMatch(f *testing.F) {
	for _, p := range []string{"/", "/protected", "/protected/", "/orders/../admin/x", "/static/./a", "//static/a", "/static//a",
		"/a/..", "/..", "/.", "/a/.b", "/a/b.", "/abcdefgh", "/abcdefgh/x/../y", "/.../x", "/x/...", "*", ""} {
		for _, m := range []string{"GET", "POST", "PURGE"} {
			f.Add(matchRoutes, m, p)
		}
	}
	f.Add("\x00/\n\x01/*", "get", "/")
	f.Add("2/", "GEt", "/")
	f.Add("\x01/*", "GET", "/a;b")
	f.Add("\x01/*", "GET", `/a\b`)
	f.Fuzz(func(t *testing.T, routes, method, urlPath string) {
		p := matchPolicy(routes)
		if got, want := p.match(method, urlPath), matchReference(p, method, urlPath); got != want {
			t.Fatalf("match(%q, %q) = %d, want %d (routes %q)", method, urlPath, got, want, routes)
		}
		if urlPath == "" || urlPath[0] != '/' {
			return
		}
		clean, isClean, _ := requestPath(urlPath)
		want := path.Clean(urlPath)
		if strings.HasSuffix(urlPath, "/") && want != "/" {
			want += "/"
		}
		if clean != want || isClean != (want == urlPath) {
			t.Fatalf("requestPath(%q) = %q, %v; want %q, %v", urlPath, clean, isClean, want, want == urlPath)
		}
	})
}

func TestRequestMethodBit(t *testing.T) {
	t.Parallel()
	for _, m := range methods {
		if got, want := requestMethodBit(m), methodBit(m); got != want {
			t.Errorf("requestMethodBit(%s) = %#x, methodBit = %#x", m, got, want)
		}
	}
	for _, m := range []string{"get", "PURGE", "CONNECT", ""} {
		if got := requestMethodBit(m); got != otherMethod || methodMask([]string{"GET"})&got != 0 {
			t.Errorf("requestMethodBit(%q) = %#x, want otherMethod", m, got)
		}
	}
}
