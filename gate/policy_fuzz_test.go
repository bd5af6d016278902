package gate

import (
	"errors"
	"path"
	"strings"
	"testing"
)

// FuzzParsePolicy checks that any file either parses into a policy whose
// routes all compile, or fails with an ErrPolicy error that names a line,
// and never panics.
func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(testPolicy))
	f.Add([]byte(benchPolicy))
	f.Add([]byte("issuers:\n  a:\n    issuer: x\n    audiences: [y]\nroutes:\n  - {name: r, path: /*}\n  - {name: s, path: /a}\n"))
	f.Add([]byte("default: allow-authenticated\nissuers: {a: {issuer: x, audiences: y}}\n"))
	f.Add([]byte("routes: [&a {name: r}, *a]\n"))
	f.Add([]byte("issuers:\n  a: &x\n    issuer: x\n  b: *x\n"))
	f.Add([]byte("- 1\n- 2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := ParsePolicy("p.yaml", data)
		if err != nil {
			if !errors.Is(err, ErrPolicy) {
				t.Fatalf("error %v does not wrap ErrPolicy", err)
			}
			if !strings.HasPrefix(err.Error(), "p.yaml") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if len(spec.Issuers) == 0 {
			t.Fatal("a policy without issuers parsed")
		}
		for _, rt := range spec.Routes {
			if _, _, err := splitRoutePath(rt.Path); err != nil {
				t.Fatalf("route %s: %v", rt.Name, err)
			}
		}
	})
}

// FuzzRequestPath checks the fast path of requestPath against path.Clean.
func FuzzRequestPath(f *testing.F) {
	for _, s := range []string{"/", "/a/b", "/a/", "//a", "/a/./b", "/a/../b", "/..", "/.", "/a/..", "/a/.b", "/a/..b/", "/...", "*", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		clean, isClean, ok := requestPath(p)
		if p == "" || p[0] != '/' {
			if ok {
				t.Fatalf("%q: ok", p)
			}
			return
		}
		want := path.Clean(p)
		if strings.HasSuffix(p, "/") && want != "/" {
			want += "/"
		}
		if clean != want || isClean != (want == p) {
			t.Fatalf("requestPath(%q) = %q, %v; want %q, %v", p, clean, isClean, want, want == p)
		}
	})
}
