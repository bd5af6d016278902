// Package gate is the HTTP handler behind `keyward gate`: a verifying
// reverse proxy that lets only requests with a valid bearer token through to
// an upstream service written in any language, or, without an upstream, the
// small demo API of the Node recipe keyward replaces.
//
// It owns the proxy, the demo API and the gate's own endpoints under
// /.keyward/. It builds on verifier and internal/httpx and must never import
// issuer, server, a storage backend or a SQL driver: a gate holds no issuer
// state and verifies with the published keys alone.
package gate

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/verifier"
)

// HealthPath is the gate's own health endpoint. It lives under a prefix no
// application route uses, so it never hides an upstream route; it needs no
// token.
const HealthPath = "/.keyward/healthz"

// Headers the gate sets on requests it forwards. Every incoming header whose
// name starts with "X-Auth-" (in any case, and with "_" taken for "-") is
// removed first, so the upstream can trust them.
const (
	HeaderSubject = "X-Auth-Subject" // the token's "sub"
	HeaderScope   = "X-Auth-Scope"   // the granted scopes, space-separated
	HeaderClaims  = "X-Auth-Claims"  // unpadded base64url of the verified claims JSON
)

// Config configures the gate's handler.
type Config struct {
	// Verifier checks the tokens. Required unless Policies is set.
	Verifier *verifier.Verifier
	// Policies, when set, decides every request by the routes of the
	// policy it holds, verifying tokens with that policy's verifier;
	// Verifier and PublicPaths must then be empty. It can be replaced
	// while the gate serves ([Policies.Store]). Nil means one verifier,
	// and every path but PublicPaths needs a valid token.
	Policies *Policies
	// PolicyMetrics, when set with Policies, counts the requests each
	// route decides, by issuer and outcome. Nil means none.
	PolicyMetrics PolicyObserver
	// Upstream is where verified requests go; its path is prefixed to the
	// request's. Nil serves the demo API: GET / (public) and GET /protected.
	Upstream *url.URL
	// PublicPaths pass without a token: exact paths, or prefixes when they
	// end with "*" ("/static/*"). In demo mode "/" is always public.
	// With public paths, a path holding an encoded "/" or a "\" is refused
	// with 400, as under a policy's paths: encoded-slashes: reject.
	PublicPaths []string
	// Realm is the realm of the WWW-Authenticate challenges; empty means
	// "keyward".
	Realm string
	// Logger receives one line per proxy error, and a requests_refused
	// line per reason of refusal ([RefusalReason]) at most once per
	// RefusalLogEvery, with the count of the refusals it stands for and the
	// precise error of the last one (at Info, Warn when the key source is
	// unavailable); at Debug level, also a request_refused line for every
	// refused request. Nil discards.
	Logger *slog.Logger
	// RefusalLogEvery is the least time between two requests_refused lines
	// of one reason, so that a flood of bad tokens cannot flood the log;
	// zero means [DefaultRefusalLogEvery]. The refusals in between are
	// counted into the reason's next line, and each one in Refusals.
	RefusalLogEvery time.Duration
	// Refusals, when set, is told the reason of every refused request, for
	// a metric. Nil means none.
	Refusals RefusalObserver
	// Now is the clock of the refusal lines' interval; nil means time.Now.
	Now func() time.Time
	// Transport carries requests to the upstream; nil means a transport
	// with connection, TLS and response-header timeouts.
	Transport http.RoundTripper
	// Ready reports whether the gate can verify tokens, for HealthPath;
	// typically the key set's Ready method. While it fails, HealthPath
	// answers 503 with Retry-After ([verifier.RetryAfter]). Nil means always
	// ready.
	Ready func() error
	// Metrics, when set, is served at [MetricsPath] without a token
	// (typically a Prometheus handler). Nil means no metrics endpoint.
	Metrics http.Handler
	// HTTPMetrics, when set, receives the latency of every request. Nil
	// means none.
	HTTPMetrics HTTPObserver
	// Rand seeds the request IDs the gate gives requests that bring none
	// (see [RequestID]); nil means crypto/rand.Reader. Request IDs are not
	// secrets: a predictable source only makes them guessable.
	Rand io.Reader
	// DPoP says whether the gate accepts DPoP-bound tokens with proofs
	// (RFC 9449), as [verifier.MiddlewareConfig].DPoP; see gate/dpop.go.
	// The zero value accepts Bearer tokens only and refuses DPoP-bound ones.
	DPoP verifier.DPoPConfig
}

// New returns the gate's handler.
func New(cfg Config) (http.Handler, error) {
	if (cfg.Verifier == nil) == (cfg.Policies == nil) {
		return nil, errors.New("gate: Config needs a Verifier or Policies, not both")
	}
	if cfg.Policies != nil && len(cfg.PublicPaths) > 0 {
		return nil, errors.New("gate: with Policies, public paths are routes of the policy")
	}
	if u := cfg.Upstream; u != nil && ((u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		return nil, fmt.Errorf("gate: upstream %q is not an absolute http(s) URL", u.Redacted())
	}
	ids, err := httpx.NewRequestIDs(cfg.Rand)
	if err != nil {
		return nil, fmt.Errorf("gate: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	realm := cfg.Realm
	if realm == "" {
		realm = "keyward"
	}
	mc := verifier.MiddlewareConfig{Realm: realm}
	for _, p := range cfg.PublicPaths {
		if p == "" || p[0] != '/' {
			return nil, fmt.Errorf("gate: public path %q does not start with /", p)
		}
		if pre, ok := strings.CutSuffix(p, "*"); ok {
			mc.PublicPrefixes = append(mc.PublicPrefixes, pre)
		} else {
			mc.PublicPaths = append(mc.PublicPaths, p)
		}
	}
	if mc.DPoP, err = dpopConfig(cfg.DPoP); err != nil {
		return nil, err
	}
	mc.ErrorHandler = refusalHandler(realm, logger, newRefusalLog(logger, cfg.RefusalLogEvery, cfg.Now), cfg.Refusals)

	var app http.Handler
	if cfg.Upstream == nil {
		mc.PublicPaths = append(mc.PublicPaths, "/")
		app = demo()
	} else {
		app = proxy(cfg.Upstream, cfg.Transport, logger, cfg.Policies != nil)
	}
	var protected http.Handler
	if cfg.Policies != nil {
		if err := cfg.Policies.setBinder(policyBinder(app, realm, mc.DPoP, mc.ErrorHandler, cfg.PolicyMetrics)); err != nil {
			return nil, err
		}
	} else {
		protected = verifier.Middleware(cfg.Verifier, mc)(app)
	}

	ready := cfg.Ready
	metrics := cfg.Metrics
	var unmatched Counter
	if cfg.Policies != nil && cfg.PolicyMetrics != nil {
		unmatched = cfg.PolicyMetrics.Counter(routeUnmatched, "", "refused")
	}
	appRoute := "proxy"
	if cfg.Upstream == nil {
		appRoute = "demo"
	}
	// h sets the route label of every request as it decides it: a policy's
	// route is matched once, for the label and to serve the request.
	policies := cfg.Policies
	h := func(w http.ResponseWriter, r *http.Request, o *httpx.Observed) {
		switch {
		case r.URL.Path == HealthPath:
			o.Route = "health"
			health(w, r, ready)
		case metrics != nil && r.URL.Path == MetricsPath:
			o.Route = "metrics"
			metrics.ServeHTTP(w, r)
		case escapedPath(r, policies, len(mc.PublicPaths)+len(mc.PublicPrefixes) > 0):
			o.Route = refuseEscapedPath(w, r, policies, appRoute, mc.ErrorHandler)
		case policies == nil:
			o.Route = appRoute
			protected.ServeHTTP(w, r)
		case !strings.HasPrefix(r.URL.Path, "/") || ambiguousPath(r.URL.Path):
			// CONNECT host:port, OPTIONS *: no route's, yet the proxy
			// would send them to the upstream as a path; "/orders/..;/admin"
			// is "/admin" to Tomcat.
			o.Route = policies.routeName(r)
			if unmatched != nil {
				unmatched.Inc()
			}
			mc.ErrorHandler(w, r, errNoRoute)
		default:
			policies.serve(w, r, o)
		}
	}
	return observe(h, ids, cfg.HTTPMetrics), nil
}

func health(w http.ResponseWriter, r *http.Request, ready func() error) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
		return
	}
	if ready != nil {
		if err := ready(); err != nil {
			err = fmt.Errorf("%w: %w", verifier.ErrKeySourceUnavailable, err)
			w.Header().Set("Retry-After", strconv.Itoa(int(verifier.RetryAfter(err)/time.Second)))
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": verifier.Description(err)})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// demo is the API of the Node recipe: a public route and a protected one
// that shows the verified claims.
func demo() http.Handler {
	public := []byte(`{"message":"This is a public route"}` + "\n")
	head := []byte(`{"message":"You have accessed a protected route!","claims":`)
	tail := []byte("}\n")
	bufs := sync.Pool{New: func() any { return new([]byte) }}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		writeBody(w, http.StatusOK, public)
	})
	mux.HandleFunc("GET /protected", func(w http.ResponseWriter, r *http.Request) {
		payload, ok := verifiedPayload(r)
		if !ok {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
			return
		}
		// The claims JSON is the verified token's payload, exactly as the
		// issuer signed it and the verifier parsed it strictly (one JSON
		// object, no duplicate members); decoding it costs far less than
		// encoding the parsed claims again.
		bp := bufs.Get().(*[]byte)
		buf, err := base64.RawURLEncoding.AppendDecode(append((*bp)[:0], head...), []byte(payload))
		if err != nil {
			bufs.Put(bp)
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
			return
		}
		buf = append(buf, tail...)
		writeBody(w, http.StatusOK, buf)
		*bp = buf
		bufs.Put(bp)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
	})
	return mux
}

// verifiedPayload returns the payload segment (the claims JSON in unpadded
// base64url) of the token the verifier accepted for r.
func verifiedPayload(r *http.Request) (string, bool) {
	token, ok := verifier.TokenFrom(r.Context())
	if !ok {
		return "", false
	}
	_, rest, ok1 := strings.Cut(token, ".")
	payload, _, ok2 := strings.Cut(rest, ".")
	return payload, ok1 && ok2
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v, json.Deterministic(true))
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	writeBody(w, status, append(b, '\n'))
}

func writeBody(w http.ResponseWriter, status int, body []byte) {
	// One allocation holds both values, and the names are canonical: this
	// runs for every answer of the demo API.
	vals := make([]string, 2)
	vals[0], vals[1] = "application/json", "no-store"
	h := w.Header()
	h["Content-Type"] = vals[0:1:1]
	h["Cache-Control"] = vals[1:2:2]
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// defaultTransport is the upstream transport when none is given.
func defaultTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 5 * time.Second
	t.ResponseHeaderTimeout = 60 * time.Second
	t.MaxIdleConnsPerHost = 256
	t.IdleConnTimeout = 90 * time.Second
	return t
}

// proxy forwards requests to upstream with the verified identity in
// X-Auth-* headers; with cleanPaths, under a policy, a path that is not
// clean goes with the cleaned form the policy matched ([forwardCleanPath]).
func proxy(upstream *url.URL, transport http.RoundTripper, logger *slog.Logger, cleanPaths bool) http.Handler {
	if transport == nil {
		transport = defaultTransport()
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			if cleanPaths {
				forwardCleanPath(pr.Out.URL)
			}
			pr.SetURL(upstream)
			pr.SetXForwarded()
			stripAuthHeaders(pr.Out.Header)
			c, _ := verifier.ClaimsFrom(pr.In.Context())
			payload, _ := verifiedPayload(pr.In)
			setForwardHeaders(pr.Out.Header, RequestID(pr.In.Context()), c, payload)
		},
		Transport:  transport,
		BufferPool: newBufferPool(),
		ErrorLog:   slog.NewLogLogger(logger.Handler(), slog.LevelError),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			status := http.StatusBadGateway
			if errors.Is(err, context.DeadlineExceeded) {
				status = http.StatusGatewayTimeout
			}
			if r.Context().Err() == nil {
				logger.ErrorContext(r.Context(), "upstream_request_failed", "path", r.URL.Path, "status", status, "error", err)
			}
			writeJSON(w, status, map[string]string{"error": "upstream unavailable"})
		},
	}
}

// copyBufferSize is the size of the buffers through which the proxy copies
// response bodies: httputil.ReverseProxy's own, which it allocates for
// every request when no BufferPool is set.
const copyBufferSize = 32 << 10

// bufferPool lends the proxy its copy buffers, so that a request does not
// allocate and clear 32 KiB. A buffer goes back to the pool once the
// response is copied; what it held of that response is overwritten by the
// next read before it is sent anywhere. The pool holds pointers to the
// buffers' arrays, which a slice converts to without an allocation: a
// pointer to a slice header would cost one on every Put.
type bufferPool struct{ p sync.Pool }

var _ httputil.BufferPool = (*bufferPool)(nil)

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { return new([copyBufferSize]byte) }}}
}

// Get implements httputil.BufferPool.
func (b *bufferPool) Get() []byte { return b.p.Get().(*[copyBufferSize]byte)[:] }

// Put implements httputil.BufferPool.
func (b *bufferPool) Put(buf []byte) {
	if cap(buf) < copyBufferSize {
		return
	}
	b.p.Put((*[copyBufferSize]byte)(buf[:copyBufferSize]))
}

// stripAuthHeaders removes every header a client could use to pose as a
// verified identity: any name that, lower-cased and with "_" read as "-",
// starts with "x-auth-" (frameworks that map headers to variables make
// X_Auth_Subject and X-Auth-Subject the same).
func stripAuthHeaders(h http.Header) {
	for name := range h {
		if isAuthHeader(name) {
			delete(h, name)
		}
	}
}

func isAuthHeader(name string) bool {
	const prefix = "x-auth-"
	if len(name) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c == '_' {
			c = '-'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

// setForwardHeaders sets X-Request-Id to id and, when c is not nil, writes
// the verified identity for the upstream ([HeaderSubject], [HeaderScope],
// [HeaderClaims]). payload is the verified token's payload segment: the
// claims JSON as signed, already in unpadded base64url; when empty, the
// claims are encoded again. The caller has removed the client's X-Auth-*
// headers. The names are canonical, and one allocation holds the values:
// this runs for every proxied request.
func setForwardHeaders(h http.Header, id string, c *jose.Claims, payload string) {
	vals := make([]string, 4)
	vals[0] = id
	h["X-Request-Id"] = vals[0:1:1]
	if c == nil {
		return
	}
	if c.Subject != "" {
		vals[1] = headerSafe(c.Subject)
		h[HeaderSubject] = vals[1:2:2]
	}
	if scope, ok := scopeHeader(c); ok {
		vals[2] = headerSafe(scope)
		h[HeaderScope] = vals[2:3:3]
	}
	if payload == "" {
		if b, err := c.MarshalJSON(); err == nil {
			payload = base64.RawURLEncoding.EncodeToString(b)
		}
	}
	if payload != "" {
		vals[3] = payload
		h[HeaderClaims] = vals[3:4:4]
	}
}

// scopeHeader is the value of [HeaderScope]: the token's scopes ("scope",
// else "scp") joined by single spaces; false when it grants none.
func scopeHeader(c *jose.Claims) (string, bool) {
	// The usual "scope" claim, a string of scopes already separated by
	// single spaces, is its own value: no need to split and join it.
	if v, ok := c.Get("scope"); ok {
		if s, ok := v.(string); ok && s != "" && isSpaceJoined(s) {
			return s, true
		}
	}
	scopes := c.Strings("scope")
	if len(scopes) == 0 {
		scopes = c.Strings("scp")
	}
	return strings.Join(scopes, " "), len(scopes) > 0
}

// isSpaceJoined reports whether strings.Join(strings.Fields(s), " ") is s:
// s is ASCII, with neither leading nor trailing space, and its only white
// space is single ' ' between words.
func isSpaceJoined(s string) bool {
	prevSpace := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x80:
			return false // Fields also splits at Unicode spaces
		case c == ' ':
			if prevSpace {
				return false
			}
			prevSpace = true
		case c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r':
			return false
		default:
			prevSpace = false
		}
	}
	return !prevSpace || s == ""
}

// headerSafe drops control characters, which a header value cannot carry.
func headerSafe(s string) string {
	if !hasControlByte(s) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isControl(r) {
			return -1
		}
		return r
	}, s)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// hasControlByte reports whether strings.IndexFunc(s, isControl) >= 0,
// byte by byte: the control characters are ASCII, and no byte under 0x80
// is part of another character, in valid UTF-8 or not.
func hasControlByte(s string) bool {
	for i := 0; i < len(s); i++ {
		if isControl(rune(s[i])) {
			return true
		}
	}
	return false
}
