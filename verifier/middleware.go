package verifier

import (
	"context"
	"errors"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/dpop"
	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/jwks"
)

// DefaultRetryAfter is the Retry-After of a 503 answer when the key source is
// unavailable and does not say when it tries again (see [RetryAfter]).
const DefaultRetryAfter = 10 * time.Second

// RetryAfter returns how long a client refused with err, an unavailable key
// source, should wait before it tries again: the time until the key
// source's next fetch attempt when err carries it (a [jwks.UnavailableError]
// in its chain), rounded up to whole seconds and at least one second;
// otherwise [DefaultRetryAfter]. A client that waits that long meets the
// first request the recovered source can answer, and no earlier one. For
// a DPoP key over its quota (a [dpop.KeyQuotaError]) it is the time until
// the key's oldest proof leaves the replay cache, rounded the same way.
func RetryAfter(err error) time.Duration {
	var (
		ue *jwks.UnavailableError
		qe *dpop.KeyQuotaError
	)
	var d time.Duration
	switch {
	case errors.As(err, &ue):
		d = ue.RetryAfter
	case errors.As(err, &qe):
		d = qe.RetryAfter
	default:
		return DefaultRetryAfter
	}
	return max(time.Second, (d + time.Second - 1).Truncate(time.Second))
}

// MiddlewareConfig configures [Middleware].
type MiddlewareConfig struct {
	// Realm goes into every WWW-Authenticate challenge (RFC 6750 §3).
	// Empty means no realm parameter.
	Realm string
	// PublicPaths are request paths, matched exactly, that pass without a
	// token; e.g. "/" or "/healthz".
	PublicPaths []string
	// PublicPrefixes are path prefixes that pass without a token; write
	// them with a trailing slash ("/static/"), since "/static" also
	// matches "/static-admin". Only clean paths match: a path with "..",
	// "." or "//" segments, or holding ";" or "\" (Tomcat's "..;", IIS's
	// "\" for "/"), always needs a token, so that an upstream that cleans
	// paths cannot be reached around the check; nor does a path with an
	// encoded "/" ("%2F"). The same holds for PublicPaths.
	PublicPrefixes []string
	// ErrorHandler writes the answer to a rejected request; err wraps
	// ErrNoToken, ErrInvalidRequest, ErrKeySourceUnavailable or a jose
	// category and carries the precise reason, for logs. Nil means
	// [WriteError] with Realm.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
	// DPoP says whether DPoP-bound tokens are accepted, and how their
	// proofs are checked (see [DPoPConfig]). The zero value accepts Bearer
	// tokens only and refuses DPoP-bound ones sent as Bearer. With DPoP
	// allowed or required, the errors given to ErrorHandler carry the DPoP
	// challenges, which [WriteError] answers.
	DPoP DPoPConfig
}

type verifiedKey struct{}

// verified is what Middleware puts in a request's context: the request's
// own copy of the verified claims and the token they came from. It is the
// context itself, answering verifiedKey with itself, so that a verified
// request costs one allocation where context.WithValue takes two.
type verified struct {
	context.Context
	claims *jose.Claims // &own, or the claims given to WithClaims
	own    jose.Claims
	token  string
	proof  *dpop.Proof    // the checked DPoP proof, nil for a Bearer token
	ch     *dpopChallenge // the middleware's DPoP challenges, nil without DPoP
}

// Value answers verifiedKey with v and asks the parent for any other key.
func (v *verified) Value(key any) any {
	if key == (verifiedKey{}) {
		return v
	}
	return v.Context.Value(key)
}

// ClaimsFrom returns the verified claims that [Middleware] put in the
// request's context.
//
// Each request gets its own copy of the [jose.Claims] struct, even when the
// verified-token cache answered for a token that other requests carry too,
// so the request's handlers may reassign its fields (Subject, Audience,
// Extra...). What the copy points to is shared with the cache and with every
// concurrent request with the same token, and must not be modified: the
// elements of Audience, and the Extra map with the maps and slices in it.
// Clone them before changing them (maps.Clone, slices.Clone), or assign a
// new Extra.
func ClaimsFrom(ctx context.Context) (*jose.Claims, bool) {
	v, ok := ctx.Value(verifiedKey{}).(*verified)
	if !ok {
		return nil, false
	}
	return v.claims, true
}

// TokenFrom returns the token whose claims [ClaimsFrom] returns, as the
// client sent it: for handlers that forward it, or that want the claims JSON
// exactly as the issuer signed it (its payload segment).
func TokenFrom(ctx context.Context) (string, bool) {
	v, ok := ctx.Value(verifiedKey{}).(*verified)
	if !ok {
		return "", false
	}
	return v.token, true
}

// WithClaims returns a copy of ctx that carries claims and the token they
// came from, as [Middleware] does; for tests and for handlers that verify
// tokens themselves. [ClaimsFrom] then returns claims itself, not a copy.
func WithClaims(ctx context.Context, claims *jose.Claims, token string) context.Context {
	return &verified{Context: ctx, claims: claims, token: token}
}

// withOwnClaims is [WithClaims] with a copy of claims, made in the
// allocation that holds them in the context.
func withOwnClaims(ctx context.Context, claims *jose.Claims, token string) context.Context {
	v := &verified{Context: ctx, own: *claims, token: token}
	v.claims = &v.own
	return v
}

// Middleware returns net/http middleware that lets a request through only
// with a valid bearer token, and puts the token's claims in its context
// ([ClaimsFrom]).
//
// The token is taken only from the Authorization header, scheme
// case-insensitive (RFC 6750 §2.1); never from the query string or a form,
// which end up in logs and Referer headers. Requests without a token get 401
// with a challenge and no error code (RFC 6750 §3.1); malformed credentials
// 400 invalid_request; invalid tokens 401 invalid_token with a description
// of the category only; an unavailable key source 503 with Retry-After.
//
// With cfg.DPoP allowed or required, a token bound to a key ("cnf.jkt") is
// accepted only as `Authorization: DPoP <token>` with a DPoP proof by that
// key for this request (RFC 9449 §7.1); see [DPoPConfig]. In every mode a
// bound token sent as Bearer is refused ([ErrBoundAsBearer]). Middleware
// panics when cfg.DPoP is invalid ([DPoPConfig.Validate]).
func Middleware(v *Verifier, cfg MiddlewareConfig) func(http.Handler) http.Handler {
	onError := cfg.ErrorHandler
	if onError == nil {
		realm := cfg.Realm
		onError = func(w http.ResponseWriter, r *http.Request, err error) { WriteError(w, realm, err) }
	}
	exact := slices.Clone(cfg.PublicPaths)
	prefixes := slices.Clone(cfg.PublicPrefixes)
	checker, err := cfg.DPoP.validate(v.now)
	if err != nil {
		panic(err)
	}
	if cfg.DPoP.Mode != DPoPOff {
		return dpopMiddleware(v, cfg, checker, onError, exact, prefixes)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if publicRequest(r, exact, prefixes) {
				next.ServeHTTP(w, r)
				return
			}
			token, err := BearerToken(r)
			if err != nil {
				onError(w, r, err)
				return
			}
			claims, err := v.verifyShared(r.Context(), token)
			if err == nil {
				err = checkBearerBinding(claims)
			}
			if err != nil {
				onError(w, r, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(withOwnClaims(r.Context(), claims, token)))
		})
	}
}

// publicRequest reports whether r passes without a token: its path is
// public ([isPublic]) and holds no encoded "/" ([encodedSlash]).
func publicRequest(r *http.Request, exact, prefixes []string) bool {
	return isPublic(r.URL.Path, exact, prefixes) && !encodedSlash(r.URL.RawPath)
}

// isPublic matches a request path against the public exceptions. Only a
// clean path matches; the check comes last, as most paths match nothing.
func isPublic(p string, exact, prefixes []string) bool {
	if slices.Contains(exact, p) {
		return isClean(p)
	}
	for _, pre := range prefixes {
		if strings.HasPrefix(p, pre) {
			return isClean(p)
		}
	}
	return false
}

// encodedSlash reports whether the escaped path raw holds an encoded "/"
// ("%2F"): a handler or an upstream routing on segments reads
// "/static%2Fsecret" as one segment at the root, not as the path
// "/static/secret" that the public exceptions are matched against, so no
// such path is public.
func encodedSlash(raw string) bool {
	return raw != "" && (strings.Contains(raw, "%2F") || strings.Contains(raw, "%2f"))
}

// isClean reports whether p is an absolute path that path.Clean leaves
// alone, a trailing slash aside, and that holds no ";" or "\", which
// Tomcat reads as path parameters ("..;" as "..") and IIS as "/".
func isClean(p string) bool {
	if p == "" || p[0] != '/' || strings.ContainsAny(p, `;\`) {
		return false
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c == p
}

// BearerToken extracts the bearer token from the request's Authorization
// header (RFC 6750 §2.1). No header, or another scheme, is [ErrNoToken];
// several Authorization headers, an empty token or one with inner
// whitespace are [ErrInvalidRequest]. The token's own syntax is left to the
// verifier, which accepts nothing but three base64url segments.
func BearerToken(r *http.Request) (string, error) {
	scheme, token, err := credentials(r)
	if scheme == dpop.Scheme {
		return "", ErrNoToken
	}
	return token, err
}

// WriteError writes the RFC 6750 answer for err:
//
//   - [ErrNoToken]: 401, WWW-Authenticate: Bearer realm="..." (no error code);
//   - [ErrInvalidRequest]: 400, error="invalid_request";
//   - [ErrInsufficientScope]: 403, error="insufficient_scope", with the
//     "scope" attribute of a [ScopeError];
//   - [ErrKeySourceUnavailable]: 503 with Retry-After ([RetryAfter]) and no
//     challenge;
//   - anything else: 401, error="invalid_token".
//
// The body is a small JSON object {"error":"...","error_description":"..."}.
// Descriptions come from [Description] and never echo the token, claim
// values or key material.
//
// An error of a [Middleware] with DPoP allowed or required is answered
// with the challenges of RFC 9449 §7.1 instead: a DPoP challenge with the
// "algs" the middleware accepts (and, with DPoP allowed, a Bearer one
// too), the error code in the challenge of the scheme the request used,
// "invalid_dpop_proof" for a bad proof, "use_dpop_nonce" with a fresh
// DPoP-Nonce header when the proof lacks a valid nonce, 503 when the
// replay cache is full, and 429 with Retry-After ([RetryAfter]) and
// error "slow_down" when the proof's key is over its share of the replay
// cache ([dpop.ErrKeyQuota]).
func WriteError(w http.ResponseWriter, realm string, err error) {
	writeError(w, realm, err, requiredScope(err))
}

// errorCode returns the RFC 6750 error code ("" for none) and the status
// of the answer to err.
func errorCode(err error) (string, int) {
	switch {
	case errors.Is(err, ErrNoToken):
		return "", http.StatusUnauthorized
	case errors.Is(err, ErrInvalidRequest):
		return "invalid_request", http.StatusBadRequest
	case errors.Is(err, ErrInsufficientScope):
		return "insufficient_scope", http.StatusForbidden
	case errors.Is(err, ErrKeySourceUnavailable):
		return "temporarily_unavailable", http.StatusServiceUnavailable
	}
	return "invalid_token", http.StatusUnauthorized
}

func writeError(w http.ResponseWriter, realm string, err error, scope string) {
	if de := (*dpopError)(nil); errors.As(err, &de) {
		writeDPoPError(w, realm, de)
		return
	}
	desc := Description(err)
	code, status := errorCode(err)
	// One backing array for the four header values and one buffer for the
	// challenge and the body: a refused request is no dearer than an
	// accepted one.
	vals := make([]string, 4)
	h := w.Header()
	if status == http.StatusServiceUnavailable {
		vals[0] = strconv.Itoa(int(RetryAfter(err) / time.Second))
		h["Retry-After"] = vals[0:1:1]
	} else {
		vals[0] = challenge(realm, code, desc, scope)
		h["Www-Authenticate"] = vals[0:1:1]
	}
	vals[1], vals[2], vals[3] = "application/json", "no-store", "nosniff"
	h["Content-Type"] = vals[1:2:2]
	h["Cache-Control"] = vals[2:3:3]
	h["X-Content-Type-Options"] = vals[3:4:4]
	w.WriteHeader(status)
	if code == "" {
		code = "unauthorized"
	}
	body := make([]byte, 0, len(code)+len(desc)+len(`{"error":"","error_description":""}`)+1)
	body = append(body, `{"error":"`...)
	body = append(body, code...)
	body = append(body, `","error_description":"`...)
	body = append(body, desc...)
	body = append(body, "\"}\n"...)
	_, _ = w.Write(body)
}

// challenge builds a WWW-Authenticate value (RFC 6750 §3).
func challenge(realm, code, desc, scope string) string {
	type param struct{ name, val string }
	var params [4]param
	ps := params[:0]
	if realm != "" {
		ps = append(ps, param{"realm", quote(realm)})
	}
	if code != "" {
		ps = append(ps, param{"error", quote(code)}, param{"error_description", quote(desc)})
	}
	if scope != "" {
		ps = append(ps, param{"scope", quote(scope)})
	}
	n := len("Bearer")
	for _, p := range ps {
		n += len(`, =""`) + len(p.name) + len(p.val)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString("Bearer")
	for i, p := range ps {
		if i == 0 {
			b.WriteByte(' ')
		} else {
			b.WriteString(", ")
		}
		b.WriteString(p.name)
		b.WriteString(`="`)
		b.WriteString(p.val)
		b.WriteByte('"')
	}
	return b.String()
}

// quote keeps only the characters RFC 6750 §3 allows in a quoted value
// (%x20-21 / %x23-5B / %x5D-7E), dropping quotes, backslashes and controls.
func quote(s string) string {
	ok := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// RequireScope returns middleware, to be placed after [Middleware], that
// lets a request through only when its token grants every one of scopes in
// "scope" (space-separated, RFC 8693 §4.2) or "scp" (string or array);
// otherwise 403 insufficient_scope naming the scopes required, in the
// challenge of the scheme the request used ([ChallengeError]).
func RequireScope(scopes ...string) func(http.Handler) http.Handler {
	need := slices.Clone(scopes)
	return guard(strings.Join(need, " "), func(c *jose.Claims) bool {
		have := slices.Concat(c.Strings("scope"), c.Strings("scp"))
		for _, s := range need {
			if !slices.Contains(have, s) {
				return false
			}
		}
		return true
	})
}

// RequireRole returns middleware, to be placed after [Middleware], that lets
// a request through only when its token's "roles" (array or string) or
// "role" claim names at least one of roles; otherwise 403
// insufficient_scope, in the challenge of the scheme the request used
// ([ChallengeError]).
func RequireRole(roles ...string) func(http.Handler) http.Handler {
	wanted := slices.Clone(roles)
	return guard("", func(c *jose.Claims) bool {
		have := slices.Concat(c.Strings("roles"), c.Strings("role"))
		for _, r := range wanted {
			if slices.Contains(have, r) {
				return true
			}
		}
		return false
	})
}

func guard(scope string, ok func(*jose.Claims) bool) func(http.Handler) http.Handler {
	denied := error(ErrInsufficientScope)
	if scope != "" {
		denied = &ScopeError{Scope: scope}
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, found := ClaimsFrom(r.Context())
			if !found {
				WriteError(w, "", ErrNoToken)
				return
			}
			if !ok(c) {
				WriteError(w, "", ChallengeError(r.Context(), denied))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
