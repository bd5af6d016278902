package gate

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// forwardCleanPath gives u, a request to forward under a policy, the
// cleaned path by which the policy matched it ([requestPath]) when its path
// is not clean: "/admin/../orders/1", "/admin/%2e%2e/orders/1" and
// "//orders/1" reach the upstream as "/orders/1". An upstream that does not
// remove dot segments or merge slashes itself (a handler that routes on the
// raw path) would otherwise serve another route than the one whose
// requirements the gate checked. A path with an encoded "/", which only
// encoded-slashes: decode lets through, goes decoded for the same reason:
// "/admin%2Fusers" as "/admin/users". Any other clean path is left as
// sent, its encoding ("%6F") included.
func forwardCleanPath(u *url.URL) {
	if clean, isClean, ok := requestPath(u.Path); ok && (!isClean || encodedSlash(u.RawPath)) {
		u.Path, u.RawPath = clean, ""
	}
}

// ambiguousPath reports whether the request path p holds a "\" or a dot
// segment with parameters (".;x", "..;"), which servers other than Go's
// read as another path than the gate does: IIS and ASP.NET take "\" for
// "/", Tomcat, Jetty and Spring drop a segment's ";" parameters and so
// read "/orders/..;/admin" as "/admin". No route matches such a path: the
// gate cannot know which of the readings its upstream makes. It does not
// allocate.
func ambiguousPath(p string) bool {
	if !strings.ContainsAny(p, `;\`) {
		return false
	}
	if strings.IndexByte(p, '\\') >= 0 {
		return true
	}
	for seg := range strings.SplitSeq(p, "/") {
		if name, _, ok := strings.Cut(seg, ";"); ok && (name == "." || name == "..") {
			return true
		}
	}
	return false
}

// errEscapedPath is the refusal of a request whose path the gate will not
// forward as it was sent ([escapedPath]).
var errEscapedPath = errors.New(`gate: the path holds an encoded "/" or "\", or a double encoding`)

// escapedPath reports whether the gate refuses r with 400 for the encoding
// of its path: under s, the policy in force ([PolicySpec.EncodedSlashes]);
// without a policy (s nil), only when the gate has public paths, as under
// a policy's reject; otherwise every path needs the same token and none is
// refused for this. Refused under reject is a path with an encoded "/"
// ("%2F") or a "\" (encoded or not): routes and public paths match the
// decoded path, which an upstream routing on escaped segments does not
// serve. Refused under either setting is a path whose decoded form still
// holds an encoding of "/", "\", "." or "%" ("%252F", "%252e%252e"),
// which an upstream that decodes twice reads as another path. It does not
// allocate, and looks no further than the path when it holds no "%" or
// "\".
func escapedPath(r *http.Request, s *Policies, public bool) bool {
	p, raw := r.URL.Path, r.URL.RawPath
	if raw == "" && strings.IndexByte(p, '%') < 0 && strings.IndexByte(p, '\\') < 0 {
		return false
	}
	decode := false
	switch {
	case s != nil:
		decode = s.cur.Load().p.decode
	case !public:
		return false
	}
	if doubleEncoded(p) {
		return true
	}
	return !decode && (encodedSlash(raw) || strings.IndexByte(p, '\\') >= 0)
}

// encodedSlash reports whether the escaped path raw holds "%2F" in either
// case.
func encodedSlash(raw string) bool {
	for i := strings.IndexByte(raw, '%'); i >= 0 && i+2 < len(raw); {
		if raw[i+1] == '2' && (raw[i+2] == 'F' || raw[i+2] == 'f') {
			return true
		}
		j := strings.IndexByte(raw[i+1:], '%')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return false
}

// doubleEncoded reports whether the decoded path p still holds a
// percent-encoding of "/", "\", "." or "%", in either case.
func doubleEncoded(p string) bool {
	for i := strings.IndexByte(p, '%'); i >= 0 && i+2 < len(p); {
		switch p[i+1 : i+3] {
		case "2F", "2f", "5C", "5c", "2E", "2e", "25":
			return true
		}
		j := strings.IndexByte(p[i+1:], '%')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return false
}

// refuseEscapedPath refuses r, which [escapedPath] refused, through
// onError with errEscapedPath and the name of the route that its decoded
// path matches, under s, and counts it as that route's refusal; it returns
// that name for the request's latency label, or label without a policy.
func refuseEscapedPath(w http.ResponseWriter, r *http.Request, s *Policies, label string, onError func(http.ResponseWriter, *http.Request, error)) string {
	if s != nil {
		b := s.cur.Load()
		i := b.p.match(r.Method, r.URL.Path)
		label = routeUnmatched
		if i >= 0 {
			label = b.p.routes[i].name
		} else {
			i = len(b.p.routes)
		}
		if b.refused != nil {
			b.refused[i].Inc()
		}
	}
	onError(w, r, fmt.Errorf("route %s: %w", label, errEscapedPath))
	return label
}
