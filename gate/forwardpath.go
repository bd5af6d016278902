package gate

import (
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
// requirements the gate checked. A clean path is left as sent, its
// encoding ("%2F") included.
func forwardCleanPath(u *url.URL) {
	if clean, isClean, ok := requestPath(u.Path); ok && !isClean {
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

// encodedSlashToPublic reports whether r's path holds an encoded "/"
// ("%2F") and the policy in force would let it through as public. An
// upstream that routes on segments reads "/static%2Fsecret" as one segment
// at the root, not as "/static/secret" as the gate's decoded matching
// does, so no such path passes without a token. Only a path with an
// encoded "/" is matched a second time.
func (s *Policies) encodedSlashToPublic(r *http.Request) bool {
	raw := r.URL.RawPath
	if raw == "" || !(strings.Contains(raw, "%2F") || strings.Contains(raw, "%2f")) {
		return false
	}
	p := s.cur.Load().p
	i := p.match(r.Method, r.URL.Path)
	return i >= 0 && p.routes[i].public
}
