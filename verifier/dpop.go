package verifier

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/dpop"
	"github.com/keyward/keyward/jose"
)

// DPoPMode says whether [Middleware] accepts DPoP-bound access tokens
// (RFC 9449): `Authorization: DPoP <token>` with a proof in a DPoP header.
type DPoPMode int

// The DPoP modes.
const (
	// DPoPOff accepts Bearer tokens only, as without DPoP; a DPoP-bound
	// token (one with "cnf.jkt") sent as Bearer is refused all the same
	// (RFC 9449 §7.2), since accepting it would make its binding
	// worthless. The zero value.
	DPoPOff DPoPMode = iota
	// DPoPAllowed accepts a token without "cnf.jkt" as Bearer and a bound
	// token as DPoP with a valid proof by its key; the challenges name
	// both schemes (RFC 9449 §7.1).
	DPoPAllowed
	// DPoPRequired accepts only DPoP-bound tokens with a valid proof:
	// a Bearer token, bound or not, is refused.
	DPoPRequired
)

// String returns "off", "allowed" or "required".
func (m DPoPMode) String() string {
	switch m {
	case DPoPOff:
		return "off"
	case DPoPAllowed:
		return "allowed"
	case DPoPRequired:
		return "required"
	}
	return "DPoPMode(" + strconv.Itoa(int(m)) + ")"
}

// ParseDPoPMode parses "off", "allowed" or "required".
func ParseDPoPMode(s string) (DPoPMode, error) {
	switch s {
	case "off":
		return DPoPOff, nil
	case "allowed":
		return DPoPAllowed, nil
	case "required":
		return DPoPRequired, nil
	}
	return 0, fmt.Errorf("verifier: DPoP mode %q is not off, allowed or required", s)
}

// DPoPConfig configures DPoP in [MiddlewareConfig]. The zero value is
// DPoPOff.
type DPoPConfig struct {
	// Mode says which schemes the middleware accepts. Zero is DPoPOff.
	Mode DPoPMode
	// Checker checks the proofs; its allowlist is the "algs" of the DPoP
	// challenge, and its nonces, when it has some, are required. Nil means
	// a checker with dpop.Config's defaults, made for this middleware (its
	// replay cache is then the middleware's own).
	Checker *dpop.Checker
	// Origin is the scheme and host (and port) by which clients reach the
	// service, such as "https://api.example.com": a proof's "htu" must be
	// this origin followed by the request's path. Set it whenever the
	// service is behind a proxy or load balancer, which makes the request
	// the service sees differ from the one the client signed. Nil means
	// the origin of the request as it arrived: "https" when it came over
	// TLS, else "http", and its Host header. X-Forwarded-Host and
	// X-Forwarded-Proto are never read: a client sets them to whatever it
	// likes.
	Origin *url.URL
}

// validate checks the configuration and returns the checker to use.
func (c DPoPConfig) validate(now func() time.Time) (*dpop.Checker, error) {
	if c.Mode < DPoPOff || c.Mode > DPoPRequired {
		return nil, fmt.Errorf("verifier: unknown %v", c.Mode)
	}
	if o := c.Origin; o != nil {
		if (o.Scheme != "http" && o.Scheme != "https") || o.Host == "" || o.User != nil ||
			(o.Path != "" && o.Path != "/") || o.RawQuery != "" || o.Fragment != "" {
			return nil, fmt.Errorf("verifier: DPoP origin %q is not a scheme and host such as https://api.example.com", o.Redacted())
		}
	}
	if c.Mode == DPoPOff || c.Checker != nil {
		return c.Checker, nil
	}
	return dpop.NewChecker(dpop.Config{Now: now})
}

// Validate reports whether c is a valid configuration: a known mode and,
// when set, an origin that is only a scheme and a host. [Middleware]
// panics on an invalid one.
func (c DPoPConfig) Validate() error {
	_, err := c.validate(nil)
	return err
}

// Errors of DPoP in [Middleware].
var (
	// ErrDPoPRequired reports a request with Bearer credentials where
	// only DPoP is accepted: like [ErrNoToken], a challenge with no error
	// code (RFC 6750 §3.1: an unsupported authentication method). It wraps
	// ErrNoToken.
	ErrDPoPRequired = fmt.Errorf("%w: DPoP required", ErrNoToken)
	// ErrBoundAsBearer reports a DPoP-bound token ("cnf.jkt") sent as a
	// Bearer token, without a proof: refused in every mode (RFC 9449 §7.2),
	// since whoever holds the token could otherwise use it without the
	// key. The answer is invalid_token.
	ErrBoundAsBearer = errors.New("verifier: DPoP-bound token sent as Bearer")
	// ErrNotBound reports a token without "cnf.jkt" sent with the DPoP
	// scheme: a proof can only be checked against a bound key. The answer
	// is invalid_token.
	ErrNotBound = errors.New("verifier: token sent as DPoP is not DPoP-bound")
)

// checkBearerBinding refuses a token bound by DPoP, or with an unreadable
// "cnf", presented as Bearer.
func checkBearerBinding(c *jose.Claims) error {
	jkt, err := dpop.BoundJKT(c)
	if err == nil && jkt != "" {
		err = ErrBoundAsBearer
	}
	return err
}

// ProofFrom returns the DPoP proof that [Middleware] checked for the
// request whose context is ctx; false for a request that came with a
// Bearer token.
func ProofFrom(ctx context.Context) (*dpop.Proof, bool) {
	v, ok := ctx.Value(verifiedKey{}).(*verified)
	if !ok || v.proof == nil {
		return nil, false
	}
	return v.proof, true
}

// dpopMiddleware is Middleware in the modes DPoPAllowed and DPoPRequired.
func dpopMiddleware(v *Verifier, cfg MiddlewareConfig, checker *dpop.Checker, onError func(http.ResponseWriter, *http.Request, error), exact, prefixes []string) func(http.Handler) http.Handler {
	mode, origin := cfg.DPoP.Mode, cfg.DPoP.Origin
	algs := make([]string, 0, 8)
	for _, a := range checker.Algorithms() {
		algs = append(algs, string(a))
	}
	ch := &dpopChallenge{mode: mode, algs: strings.Join(algs, " "), nonces: checker.Nonces()}
	fail := func(w http.ResponseWriter, r *http.Request, scheme string, err error) {
		onError(w, r, &dpopError{err: err, scheme: scheme, ch: ch})
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if publicRequest(r, exact, prefixes) {
				next.ServeHTTP(w, r)
				return
			}
			scheme, token, err := credentials(r)
			if err != nil {
				fail(w, r, scheme, err)
				return
			}
			if scheme == "Bearer" {
				if mode == DPoPRequired {
					fail(w, r, "", ErrDPoPRequired)
					return
				}
				claims, err := v.verifyShared(r.Context(), token)
				if err == nil {
					err = checkBearerBinding(claims)
				}
				if err != nil {
					fail(w, r, scheme, err)
					return
				}
				ctx := withOwnClaims(r.Context(), claims, token)
				ctx.(*verified).ch = ch
				next.ServeHTTP(w, r.WithContext(ctx))
				return
			}
			proof, err := dpop.FromRequest(r)
			if err != nil {
				fail(w, r, scheme, err)
				return
			}
			// The token is verified first, so that only the holder of a
			// valid bound token gets as far as the replay cache.
			claims, err := v.verifyShared(r.Context(), token)
			if err != nil {
				fail(w, r, scheme, err)
				return
			}
			jkt, err := dpop.BoundJKT(claims)
			if err == nil && jkt == "" {
				err = ErrNotBound
			}
			if err != nil {
				fail(w, r, scheme, err)
				return
			}
			p, err := checker.CheckBound(proof, r.Method, requestURL(r, origin), token, jkt)
			if err != nil {
				fail(w, r, scheme, err)
				return
			}
			ctx := withOwnClaims(r.Context(), claims, token)
			ctx.(*verified).proof, ctx.(*verified).ch = p, ch
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// requestURL is the URL a proof's "htu" must name: origin, or the
// request's own scheme and Host, with the request's path.
func requestURL(r *http.Request, origin *url.URL) *url.URL {
	u := &url.URL{Path: r.URL.Path, RawPath: r.URL.RawPath}
	if origin != nil {
		u.Scheme, u.Host = origin.Scheme, origin.Host
		return u
	}
	u.Scheme, u.Host = "http", r.Host
	if r.TLS != nil {
		u.Scheme = "https"
	}
	return u
}

// credentials reads the request's one Authorization header, Bearer or
// DPoP, under the rules of [BearerToken]; scheme is "Bearer" or "DPoP"
// whatever the case it was written in, or "" for no header or another
// scheme (ErrNoToken).
func credentials(r *http.Request) (scheme, token string, err error) {
	vals := r.Header.Values("Authorization")
	switch len(vals) {
	case 0:
		return "", "", ErrNoToken
	case 1:
	default:
		return "", "", ErrInvalidRequest
	}
	s, token, _ := strings.Cut(strings.TrimLeft(vals[0], " "), " ")
	switch {
	case strings.EqualFold(s, "Bearer"):
		scheme = "Bearer"
	case strings.EqualFold(s, dpop.Scheme):
		scheme = dpop.Scheme
	default:
		return "", "", ErrNoToken
	}
	token = strings.Trim(token, " ")
	// Two IndexByte scans are much faster than ContainsAny on a token of a
	// kilobyte, and this runs on every request.
	if token == "" || strings.IndexByte(token, ' ') >= 0 || strings.IndexByte(token, '\t') >= 0 {
		return scheme, "", ErrInvalidRequest
	}
	return scheme, token, nil
}

// dpopChallenge is what a middleware with DPoP says in its challenges.
type dpopChallenge struct {
	mode   DPoPMode
	algs   string       // the "algs" parameter
	nonces *dpop.Nonces // nil when nonces are not required
}

// dpopError is the error a middleware with DPoP gives its ErrorHandler: the
// refusal, the scheme the request used ("" for none) and the challenges to
// answer with, which [WriteError] reads. It unwraps to the refusal.
type dpopError struct {
	err    error
	scheme string
	ch     *dpopChallenge
}

func (e *dpopError) Error() string { return e.err.Error() }
func (e *dpopError) Unwrap() error { return e.err }

// writeDPoPError is WriteError for a refusal of a middleware with DPoP:
// the RFC 6750 answer of the refusal, with challenges for the schemes the
// middleware accepts (RFC 9449 §7.1), the error code in the challenge of
// the scheme the request used, and a fresh DPoP-Nonce when nonces are
// required.
func writeDPoPError(w http.ResponseWriter, realm string, e *dpopError) {
	err := e.err
	desc := Description(err)
	code, status := errorCode(err)
	if code == "invalid_token" {
		switch {
		case errors.Is(err, dpop.ErrReplayCacheFull):
			code, status = "temporarily_unavailable", http.StatusServiceUnavailable
		case errors.Is(err, dpop.ErrKeyQuota):
			code, status = "slow_down", http.StatusTooManyRequests
		case errors.Is(err, dpop.ErrUseNonce):
			code = "use_dpop_nonce"
		case errors.Is(err, dpop.ErrInvalidProof):
			code = "invalid_dpop_proof"
		}
	}
	h := w.Header()
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		h.Set("Retry-After", strconv.Itoa(int(RetryAfter(err)/time.Second)))
	} else {
		bearerCode, dpopCode := "", ""
		if e.scheme == dpop.Scheme {
			dpopCode = code
		} else {
			bearerCode = code
		}
		scope := requiredScope(err)
		dpopCh := dpopChallengeValue(realm, dpopCode, desc, scope, e.ch.algs)
		switch {
		case e.ch.mode == DPoPRequired:
			h["Www-Authenticate"] = []string{dpopCh}
		case bearerCode != "":
			h["Www-Authenticate"] = []string{challenge(realm, bearerCode, desc, scope), dpopCh}
		default:
			h["Www-Authenticate"] = []string{dpopCh, challenge(realm, "", "", "")}
		}
		if e.ch.nonces != nil {
			h.Set(dpop.NonceHeader, e.ch.nonces.Current())
		}
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if code == "" {
		code = "unauthorized"
	}
	_, _ = w.Write([]byte(`{"error":"` + code + `","error_description":"` + desc + "\"}\n"))
}

// dpopChallengeValue builds a DPoP challenge (RFC 9449 §7.1): realm, the
// error code with its description (and the scopes required, for
// insufficient_scope) when there is one, and algs.
func dpopChallengeValue(realm, code, desc, scope, algs string) string {
	var b strings.Builder
	b.WriteString(dpop.Scheme)
	sep := " "
	param := func(name, val string) {
		b.WriteString(sep)
		b.WriteString(name)
		b.WriteString(`="`)
		b.WriteString(quote(val))
		b.WriteByte('"')
		sep = ", "
	}
	if realm != "" {
		param("realm", realm)
	}
	if code != "" {
		param("error", code)
		param("error_description", desc)
		if scope != "" {
			param("scope", scope)
		}
	}
	param("algs", algs)
	return b.String()
}
