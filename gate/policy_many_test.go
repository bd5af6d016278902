package gate

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// manyRoutesPolicy returns a policy of n routes: exact paths and prefixes
// spread over services and depths, with methods, none shadowing another.
func manyRoutesPolicy(n int) string {
	var b strings.Builder
	b.WriteString("issuers:\n  a:\n    issuer: https://a\n    audiences: [x]\nroutes:\n")
	for i := range n {
		svc := i % 97
		switch i % 4 {
		case 0:
			fmt.Fprintf(&b, "- {name: r%d, path: /s%d/%d, methods: GET}\n", i, svc, i)
		case 1:
			fmt.Fprintf(&b, "- {name: r%d, path: /s%d/%d, methods: PUT, any-scope: w}\n", i, svc, i-1)
		case 2:
			fmt.Fprintf(&b, "- {name: r%d, path: /s%d/d%d/*}\n", i, svc, i)
		default:
			fmt.Fprintf(&b, "- {name: r%d, path: /s%d/a/b/%d, public: true}\n", i, svc, i)
		}
	}
	b.WriteString("- {name: rest, path: /*}\n")
	return b.String()
}

// TestParsePolicyManyRoutes loads a policy of 20 000 routes, which the
// check for unreachable routes must do in about linear time, and finds a
// shadowed route at its end with the line of the route that shadows it.
func TestParsePolicyManyRoutes(t *testing.T) {
	t.Parallel()
	const n = 20000
	src := manyRoutesPolicy(n)
	start := time.Now()
	spec, err := ParsePolicy("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(spec.Routes) != n+1 {
		t.Fatalf("%d routes, want %d", len(spec.Routes), n+1)
	}
	t.Logf("%d routes parsed and checked in %v", n+1, time.Since(start))
	// A route under the prefix of route r2, at the end of the file; and a
	// second route r1 at the end of a smaller one: each shadowed, named
	// with the line of the route that shadows it.
	for _, tt := range []struct {
		n          int
		extra, msg string
	}{
		{n, "- {name: late, path: /s2/d2/x}\n", "route late can never match: route r2 (line %d)"},
		{2000, "- {name: late, path: /s1/0, methods: PUT}\n", "route late can never match: route r1 (line %d)"},
	} {
		base := manyRoutesPolicy(tt.n)
		_, err := ParsePolicy("p.yaml", []byte(base+tt.extra))
		var pe *PolicyError
		if !errors.As(err, &pe) {
			t.Fatalf("error %v, want a PolicyError", err)
		}
		route := strings.Fields(tt.msg)[6]
		line := 0
		for _, r := range spec.Routes {
			if r.Name == route {
				line = r.Line
			}
		}
		last := strings.Count(base, "\n") + 1
		if want := fmt.Sprintf(tt.msg, line); pe.Line != last || !strings.Contains(pe.Msg, want) {
			t.Errorf("error %v, want %q on line %d", err, want, last)
		}
	}
}

// checkRoutesReference is the plain reading of checkRoutes: every route
// against every earlier one, in order.
func checkRoutesReference(spec *PolicySpec) error {
	for j, later := range spec.Routes {
		le, lp, _ := splitRoutePath(later.Path)
		lm := methodMask(later.Methods)
		for _, earlier := range spec.Routes[:j] {
			ee, ep, _ := splitRoutePath(earlier.Path)
			if methodMask(earlier.Methods)&lm != lm {
				continue
			}
			var covered bool
			switch {
			case ee != "":
				covered = le == ee
			case le != "":
				covered = strings.HasPrefix(le, ep)
			default:
				covered = strings.HasPrefix(lp, ep)
			}
			if covered {
				return policyError(spec.Path, later.Line, "route %s can never match: route %s (line %d) matches every request it would", later.Name, earlier.Name, earlier.Line)
			}
		}
	}
	return nil
}

// FuzzCheckRoutes checks checkRoutes against checkRoutesReference on
// routes made of a few segments and methods: the same error, or none.
func FuzzCheckRoutes(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{3, 3, 3, 3, 200, 17, 5, 64, 3, 3})
	f.Add([]byte{7, 0, 7, 0, 1, 1, 9, 9, 2, 2, 255, 128})
	segs := []string{"a", "b", "ab", "a.b"}
	f.Fuzz(func(t *testing.T, data []byte) {
		spec := &PolicySpec{Path: "p.yaml"}
		for i := 0; i+1 < len(data) && len(spec.Routes) < 40; i += 2 {
			shape, bits := data[i], data[i+1]
			var p strings.Builder
			for d := range int(shape % 4) {
				p.WriteString("/" + segs[int(shape>>(2+d))%len(segs)])
			}
			path := p.String()
			switch {
			case shape&0x80 != 0:
				path += "/*"
			case path == "":
				path = "/"
			}
			var ms []string
			for k, m := range methods {
				if bits&(1<<k) != 0 {
					ms = append(ms, m)
				}
			}
			spec.Routes = append(spec.Routes, RouteSpec{Name: fmt.Sprintf("r%d", i), Path: path, Methods: ms, Line: i + 1})
		}
		got, want := checkRoutes(spec), checkRoutesReference(spec)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("checkRoutes: %v\nreference:   %v", got, want)
		}
	})
}

// BenchmarkParsePolicyManyRoutes parses and checks a policy of 8 000
// routes.
func BenchmarkParsePolicyManyRoutes(b *testing.B) {
	src := []byte(manyRoutesPolicy(8000))
	for b.Loop() {
		if _, err := ParsePolicy("p.yaml", src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckRoutes checks the routes of a parsed policy of 8 000
// routes, apart from parsing.
func BenchmarkCheckRoutes(b *testing.B) {
	spec, err := ParsePolicy("p.yaml", []byte(manyRoutesPolicy(8000)))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := checkRoutes(spec); err != nil {
			b.Fatal(err)
		}
	}
}
