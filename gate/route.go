package gate

import (
	"fmt"
	"net/http"
	"path"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/verifier"
)

// Policy is a compiled policy file: its routes, in order, over the
// multi-issuer verifier of its issuers. Make it with [CompilePolicy]; it
// is immutable and safe for concurrent use.
type Policy struct {
	v         *verifier.Verifier
	routes    []route
	allowAuth bool // default: allow-authenticated
	decode    bool // paths: encoded-slashes: decode
	fallback  route
	issuers   []string
	public    int
	// root are the matchers of the routes that may match the path "/",
	// and byByte[c] those of the routes that may match a path whose second
	// byte is c, each in the order of the routes: a request is compared
	// with the few routes that share its path's first letter.
	root   []routeMatcher
	byByte [256][]routeMatcher
}

// route is one compiled route.
type route struct {
	name      string
	exact     string // the exact path, or "" for a prefix route
	prefix    string
	anyMethod bool
	mask      uint16
	public    bool
	reqs      *verifier.Requirements
	issuers   []string // the issuers accepted, for metrics; nil means all
}

// CompilePolicy compiles spec over v, which must be the multi-issuer
// verifier ([verifier.NewMulti]) of spec's issuers, with the same names.
func CompilePolicy(spec *PolicySpec, v *verifier.Verifier) (*Policy, error) {
	names := v.IssuerNames()
	if len(names) != len(spec.Issuers) {
		return nil, fmt.Errorf("gate: the verifier's issuers %v are not the policy's", names)
	}
	for _, is := range spec.Issuers {
		if _, ok := v.IssuerVerifier(is.Name); !ok {
			return nil, fmt.Errorf("gate: the verifier has no issuer %s", is.Name)
		}
	}
	p := &Policy{v: v, allowAuth: spec.Default == DefaultAllowAuthenticated, decode: spec.EncodedSlashes == EncodedSlashesDecode, issuers: names}
	all, err := v.Requirements()
	if err != nil {
		return nil, err
	}
	p.fallback = route{name: routeUnmatched, anyMethod: true, reqs: all}
	for _, rs := range spec.Routes {
		exact, prefix, err := splitRoutePath(rs.Path)
		if err != nil {
			return nil, policyError(spec.Path, rs.Line, "route %s: %v", rs.Name, err)
		}
		rt := route{name: rs.Name, exact: exact, prefix: prefix, anyMethod: len(rs.Methods) == 0, mask: methodMask(rs.Methods), public: rs.Public}
		if rs.Public {
			p.public++
		} else {
			var reqs []verifier.Requirement
			if len(rs.Issuers) > 0 {
				reqs = append(reqs, verifier.FromIssuer(rs.Issuers...))
				rt.issuers = rs.Issuers
			}
			for _, r := range []struct {
				vals []string
				make func(...string) verifier.Requirement
			}{
				{rs.AllScopes, verifier.AllScopes}, {rs.AnyScope, verifier.AnyScope},
				{rs.AllRoles, verifier.AllRoles}, {rs.AnyRole, verifier.AnyRole},
			} {
				if len(r.vals) > 0 {
					reqs = append(reqs, r.make(r.vals...))
				}
			}
			for _, c := range rs.Claims {
				if len(c.All) > 0 {
					reqs = append(reqs, verifier.ClaimAll(c.Name, c.All...))
				}
				if len(c.Any) > 0 {
					reqs = append(reqs, verifier.ClaimAny(c.Name, c.Any...))
				}
			}
			rt.reqs, err = v.Requirements(reqs...)
			if err != nil {
				return nil, policyError(spec.Path, rs.Line, "route %s: %v", rs.Name, err)
			}
		}
		p.routes = append(p.routes, rt)
	}
	p.indexRoutes()
	return p, nil
}

// Verifier returns the policy's verifier.
func (p *Policy) Verifier() *verifier.Verifier { return p.v }

// Routes returns the number of routes, and of public ones.
func (p *Policy) Routes() (all, public int) { return len(p.routes), p.public }

// Issuers returns the names of the policy's issuers.
func (p *Policy) Issuers() []string { return append([]string(nil), p.issuers...) }

// Default returns DefaultDeny or DefaultAllowAuthenticated.
func (p *Policy) Default() string {
	if p.allowAuth {
		return DefaultAllowAuthenticated
	}
	return DefaultDeny
}

// EncodedSlashes returns EncodedSlashesReject or EncodedSlashesDecode.
func (p *Policy) EncodedSlashes() string {
	if p.decode {
		return EncodedSlashesDecode
	}
	return EncodedSlashesReject
}

// RouteName returns the name of the route that decides a request with
// method and urlPath: the first that matches, "unmatched" when none does.
func (p *Policy) RouteName(method, urlPath string) string {
	if i := p.match(method, urlPath); i >= 0 {
		return p.routes[i].name
	}
	return routeUnmatched
}

// match returns the index of the first route that matches the request,
// or -1. Routes match the cleaned path ([requestPath]): "/orders/../admin",
// and "/orders/%2e%2e/admin" which the server decodes to it, are matched
// as "/admin", as an upstream that cleans paths would serve them. A
// public route matches only a path that is clean already and holds no ";"
// or "\", so that no spelling of a path reaches a protected route of the
// upstream without a token; a request with another spelling goes on to the
// next route. A method matches a route's methods in any case, as an
// upstream that upper-cases methods serves it. It does not allocate for a
// clean path.
func (p *Policy) match(method, urlPath string) int {
	clean, isClean, ok := requestPath(urlPath)
	if !ok {
		return -1
	}
	bit := requestMethodBit(method)
	if bit == otherMethod {
		bit = requestMethodBit(strings.ToUpper(method)) // "post": upstreams that upper-case serve POST
	}
	head := pathHead(clean)
	n := len(clean)
	ms := p.root
	if n > 1 {
		ms = p.byByte[clean[1]]
	}
	for i := range ms {
		m := &ms[i]
		// Most routes differ from the path in its first eight bytes: one
		// comparison of two words rules them out.
		if m.methods&bit == 0 || head&m.headMask != m.head {
			continue
		}
		if m.exact && n != m.n || n < m.n {
			continue
		}
		if m.n > 8 && clean[8:m.n] != m.tail {
			continue
		}
		if m.public && (!isClean || strings.ContainsAny(urlPath, `;\`)) {
			continue // Tomcat reads "..;" as "..", IIS "\" as "/"
		}
		return m.route
	}
	return -1
}

// indexRoutes builds p.root and p.byByte. A route's path or prefix of two
// bytes or more can only match a path with the same second byte; the
// prefix "/" matches every path, and the path "/" only itself.
func (p *Policy) indexRoutes() {
	for i := range p.routes {
		rt := &p.routes[i]
		m := newRouteMatcher(i, rt)
		switch {
		case m.n > 1:
			c := rt.exact
			if c == "" {
				c = rt.prefix
			}
			p.byByte[c[1]] = append(p.byByte[c[1]], m)
		case m.exact:
			p.root = append(p.root, m)
		default:
			p.root = append(p.root, m)
			for c := range p.byByte {
				p.byByte[c] = append(p.byByte[c], m)
			}
		}
	}
}

// routeMatcher is a route's path and methods, compiled for match: the
// route's exact path or prefix as its length, its first eight bytes (or
// fewer) as a word, and the rest.
type routeMatcher struct {
	head, headMask uint64 // pathHead of the path or prefix, and the mask of its bytes
	n              int    // the length of the path or prefix
	tail           string // the path or prefix from its ninth byte on
	route          int    // the route's index in Policy.routes
	methods        uint16 // requestMethodBit of each method matched
	exact          bool
	public         bool
}

// otherMethod is the requestMethodBit of a method a route cannot name.
const otherMethod = 1 << 15

func newRouteMatcher(i int, rt *route) routeMatcher {
	s := rt.exact
	if s == "" {
		s = rt.prefix
	}
	m := routeMatcher{head: pathHead(s), n: len(s), route: i, methods: rt.mask, exact: rt.exact != "", public: rt.public}
	if rt.anyMethod {
		m.methods = 1<<16 - 1
	}
	for i := 0; i < min(len(s), 8); i++ {
		m.headMask |= 0xff << (8 * i)
	}
	if len(s) > 8 {
		m.tail = s[8:]
	}
	return m
}

// pathHead returns the first eight bytes of s, or all of s when shorter,
// as a little-endian word: a string and its prefixes agree on the bytes
// they share.
func pathHead(s string) uint64 {
	if len(s) >= 8 {
		return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	}
	var h uint64
	for i := 0; i < len(s); i++ {
		h |= uint64(s[i]) << (8 * i)
	}
	return h
}

// requestMethodBit is methodBit for a request's method, and otherMethod
// for a method no route can name, which only routes of every method match.
func requestMethodBit(m string) uint16 {
	switch m {
	case http.MethodGet:
		return 1 << 0
	case http.MethodHead:
		return 1 << 1
	case http.MethodPost:
		return 1 << 2
	case http.MethodPut:
		return 1 << 3
	case http.MethodPatch:
		return 1 << 4
	case http.MethodDelete:
		return 1 << 5
	case http.MethodOptions:
		return 1 << 6
	}
	return otherMethod
}

// requestPath returns the cleaned form of a request's path (path.Clean,
// keeping a trailing slash), whether the path was clean already, and false
// for a path that is not absolute (such as "*").
func requestPath(p string) (clean string, isClean, ok bool) {
	if p == "" || p[0] != '/' {
		return "", false, false
	}
	if plainPath(p) {
		return p, true, true
	}
	c := path.Clean(p)
	if len(p) > 1 && p[len(p)-1] == '/' && c != "/" {
		if len(c) == len(p)-1 && p[:len(c)] == c {
			return p, true, true
		}
		return c + "/", false, true
	}
	return c, c == p, true
}

// PolicyObserver counts the requests that a policy decides, by route and
// issuer, typically for a metric. Its methods must be safe for concurrent
// use.
type PolicyObserver interface {
	// Counter returns the counter of the requests on route (a route's name,
	// or "unmatched") whose token came from issuer (an issuer's name; ""
	// when no token was verified) with outcome "allowed" or "refused".
	// The gate asks for every counter it may need when a policy takes
	// effect, never on the request path; the values come from the policy
	// file, so they are a bounded set.
	Counter(route, issuer, outcome string) Counter
}

// Counter is one counter of a [PolicyObserver].
type Counter interface{ Inc() }

// Policies holds the policy in force for a gate, which [Policies.Store]
// replaces as a whole: each request reads it once, so requests in flight
// finish under the policy they started with, and no connection is
// dropped. It is safe for concurrent use.
type Policies struct {
	cur atomic.Pointer[boundPolicy]

	mu      sync.Mutex
	bind    func(*Policy) *boundPolicy // set by New
	pending *Policy                    // stored before New
}

// NewPolicies returns Policies holding p.
func NewPolicies(p *Policy) *Policies {
	return &Policies{pending: p}
}

// Store makes p the policy in force.
func (s *Policies) Store(p *Policy) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bind == nil {
		s.pending = p
		return
	}
	s.cur.Store(s.bind(p))
}

// Policy returns the policy in force.
func (s *Policies) Policy() *Policy {
	if b := s.cur.Load(); b != nil {
		return b.p
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

// setBinder installs the gate's binding and binds the pending policy.
func (s *Policies) setBinder(bind func(*Policy) *boundPolicy) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bind != nil {
		return fmt.Errorf("gate: Policies used by two gates")
	}
	if s.pending == nil {
		return fmt.Errorf("gate: Policies holds no policy")
	}
	s.bind = bind
	s.cur.Store(bind(s.pending))
	s.pending = nil
	return nil
}

// boundPolicy is a Policy with the handler of each route built for a
// gate.
type boundPolicy struct {
	p        *Policy
	handlers []http.Handler
	fallback http.Handler
	// refused are the counters of the refusals of each route that no
	// handler makes (issuer ""), and last of the unmatched requests; nil
	// without an observer.
	refused []Counter
}

// policyBinder returns the function that builds the handlers of a policy
// for the gate: public routes go straight to app; the others through the
// verifying middleware and the route's requirements, whose refusals go to
// onError with the route's name in the error. Every route's middleware
// shares dp, the gate's DPoP setting, and so one replay cache.
func policyBinder(app http.Handler, realm string, dp verifier.DPoPConfig, onError func(http.ResponseWriter, *http.Request, error), obs PolicyObserver) func(*Policy) *boundPolicy {
	return func(p *Policy) *boundPolicy {
		b := &boundPolicy{p: p, handlers: make([]http.Handler, len(p.routes))}
		if obs != nil {
			b.refused = make([]Counter, len(p.routes)+1)
			b.refused[len(p.routes)] = obs.Counter(routeUnmatched, "", "refused")
		}
		for i := range p.routes {
			counters := newRouteCounters(p, &p.routes[i], obs)
			if counters != nil {
				b.refused[i] = counters.refused
			}
			b.handlers[i] = routeHandler(p, &p.routes[i], counters, app, realm, dp, onError)
		}
		if p.allowAuth {
			b.fallback = routeHandler(p, &p.fallback, newRouteCounters(p, &p.fallback, obs), app, realm, dp, onError)
		} else {
			var unmatched Counter
			if b.refused != nil {
				unmatched = b.refused[len(p.routes)]
			}
			b.fallback = notFound(onError, unmatched)
		}
		return b
	}
}

// routeCounters are the counters of one route, found by the issuer's
// position in the policy's issuers ([verifier.Verifier.IssuerIndex]) rather
// than by its name.
type routeCounters struct {
	allowed   []Counter // by issuer; for a public route, the one of issuer ""
	refused   Counter   // issuer ""
	refusedBy []Counter // by issuer
}

func newRouteCounters(p *Policy, rt *route, obs PolicyObserver) *routeCounters {
	if obs == nil {
		return nil
	}
	c := &routeCounters{refused: obs.Counter(rt.name, "", "refused")}
	if rt.public {
		c.allowed = []Counter{obs.Counter(rt.name, "", "allowed")}
		return c
	}
	for _, is := range p.issuers {
		c.allowed = append(c.allowed, obs.Counter(rt.name, is, "allowed"))
		c.refusedBy = append(c.refusedBy, obs.Counter(rt.name, is, "refused"))
	}
	return c
}

func routeHandler(p *Policy, rt *route, counters *routeCounters, app http.Handler, realm string, dp verifier.DPoPConfig, onError func(http.ResponseWriter, *http.Request, error)) http.Handler {
	name := rt.name
	refuse := func(w http.ResponseWriter, r *http.Request, err error) {
		if counters != nil {
			counters.refused.Inc()
		}
		onError(w, r, fmt.Errorf("route %s: %w", name, err))
	}
	if rt.public {
		return &publicRoute{app: app, counters: counters}
	}
	check := &checkRoute{p: p, name: name, reqs: rt.reqs, counters: counters, app: app, onError: onError}
	return verifier.Middleware(p.v, verifier.MiddlewareConfig{Realm: realm, ErrorHandler: refuse, DPoP: dp})(check)
}

// publicRoute lets the requests of a public route through.
type publicRoute struct {
	app      http.Handler
	counters *routeCounters
}

func (h *publicRoute) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.counters != nil {
		h.counters.allowed[0].Inc()
	}
	h.app.ServeHTTP(w, r)
}

// checkRoute checks the requirements of a route on the requests whose
// token the verifying middleware in front of it accepted.
type checkRoute struct {
	p        *Policy
	name     string
	reqs     *verifier.Requirements
	counters *routeCounters
	app      http.Handler
	onError  func(http.ResponseWriter, *http.Request, error)
}

func (h *checkRoute) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, _ := verifier.ClaimsFrom(r.Context())
	// The verifier routed the token by its "iss", so one of the policy's
	// issuers lists it.
	i := h.p.v.IssuerIndex(c)
	if err := h.reqs.CheckIndex(c, i); err != nil {
		var issuer string
		if i >= 0 {
			issuer = h.p.issuers[i]
		}
		if h.counters != nil {
			if i >= 0 {
				h.counters.refusedBy[i].Inc()
			} else {
				h.counters.refused.Inc()
			}
		}
		h.onError(w, r, verifier.ChallengeError(r.Context(), fmt.Errorf("route %s, issuer %s: %w", h.name, issuer, err)))
		return
	}
	if h.counters != nil && i >= 0 {
		h.counters.allowed[i].Inc()
	}
	h.app.ServeHTTP(w, r)
}

// notFound answers a request that no route matches under default: deny.
// It is 404, not 403: the gate exposes only the paths its policy names, and
// a 404 tells a client nothing about which other paths the upstream has,
// nor invites it to retry with another token. It counts each in refused,
// unless nil.
func notFound(onError func(http.ResponseWriter, *http.Request, error), refused Counter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refused != nil {
			refused.Inc()
		}
		onError(w, r, errNoRoute)
	})
}

// serve answers r under the policy in force, and sets o.Route to the name
// of the route that decides it, or "unmatched": the policy is read and the
// route matched once for both.
func (s *Policies) serve(w http.ResponseWriter, r *http.Request, o *httpx.Observed) {
	b := s.cur.Load()
	if i := b.p.match(r.Method, r.URL.Path); i >= 0 {
		o.Route = b.p.routes[i].name
		b.handlers[i].ServeHTTP(w, r)
		return
	}
	o.Route = routeUnmatched
	b.fallback.ServeHTTP(w, r)
}

// routeName is the route label of r's latency under the policy in force.
func (s *Policies) routeName(r *http.Request) string {
	return s.cur.Load().p.RouteName(r.Method, r.URL.Path)
}

// plainPath reports whether the absolute path p has no empty, "." or ".."
// segment: path.Clean would leave it alone, a trailing slash aside. It is
// the fast path of requestPath.
func plainPath(p string) bool {
	// Without a dot, only an empty segment makes a path unclean: look for
	// a dot or two slashes in a row, eight bytes at a time.
	const dots, slashes = 0x2e2e2e2e2e2e2e2e, 0x2f2f2f2f2f2f2f2f
	var carry uint64 // the top bit of the last byte read, when a slash
	i := 0
	for ; len(p)-i >= 8; i += 8 {
		w := pathHead(p[i:])
		if zeroBytes(w^dots) != 0 {
			return plainSegments(p)
		}
		s := zeroBytes(w ^ slashes)
		if s&(s<<8|carry) != 0 {
			return false
		}
		carry = s >> 56
	}
	for ; i < len(p); i++ {
		switch p[i] {
		case '.':
			return plainSegments(p)
		case '/':
			if i > 0 && p[i-1] == '/' {
				return false
			}
		}
	}
	return true
}

// zeroBytes returns the top bit of each byte of w that is zero, and no
// other bit.
func zeroBytes(w uint64) uint64 {
	const low7 = 0x7f7f7f7f7f7f7f7f
	return ^((w&low7 + low7) | w | low7)
}

// plainSegments is plainPath for a path with a dot, segment by segment.
func plainSegments(p string) bool {
	seg := 0 // length of the current segment
	dots := 0
	for i := 1; i < len(p); i++ {
		switch p[i] {
		case '/':
			if seg == 0 || seg == dots && dots <= 2 {
				return false
			}
			seg, dots = 0, 0
		case '.':
			seg++
			dots++
		default:
			seg++
		}
	}
	return !(seg > 0 && seg == dots && dots <= 2)
}
