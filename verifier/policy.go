package verifier

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode"

	"github.com/keyward/keyward/jose"
)

// ErrIssuerNotAllowed reports a valid token whose issuer a route does not
// accept ([FromIssuer]). It wraps [jose.ErrIssuer]: the token is not valid
// for this resource, and the answer is 401 invalid_token, not 403.
var ErrIssuerNotAllowed = fmt.Errorf("%w: issuer not accepted on this route", jose.ErrIssuer)

// reqKind is what a [Requirement] checks.
type reqKind uint8

const (
	reqAllScopes reqKind = iota + 1
	reqAnyScope
	reqAllRoles
	reqAnyRole
	reqClaimAll
	reqClaimAny
	reqIssuer
)

// Requirement is one condition a verified token must meet on a route, made
// by [AllScopes], [AnyScope], [AllRoles], [AnyRole], [ClaimAll], [ClaimAny]
// or [FromIssuer], and checked by [Requirements]. The zero Requirement is
// invalid.
type Requirement struct {
	kind   reqKind
	claim  string
	values []string
}

// AllScopes requires every one of scopes in the token's "scope"
// (space-separated, RFC 8693 §4.2) or "scp" (string or array).
func AllScopes(scopes ...string) Requirement {
	return Requirement{kind: reqAllScopes, values: slices.Clone(scopes)}
}

// AnyScope requires at least one of scopes in "scope" or "scp".
func AnyScope(scopes ...string) Requirement {
	return Requirement{kind: reqAnyScope, values: slices.Clone(scopes)}
}

// AllRoles requires every one of roles in the token's "roles" or "role"
// (string or array).
func AllRoles(roles ...string) Requirement {
	return Requirement{kind: reqAllRoles, values: slices.Clone(roles)}
}

// AnyRole requires at least one of roles in "roles" or "role".
func AnyRole(roles ...string) Requirement {
	return Requirement{kind: reqAnyRole, values: slices.Clone(roles)}
}

// ClaimAll requires the claim name, a string or an array of strings, to hold
// every one of values.
func ClaimAll(name string, values ...string) Requirement {
	return Requirement{kind: reqClaimAll, claim: name, values: slices.Clone(values)}
}

// ClaimAny requires the claim name, a string or an array of strings, to hold
// at least one of values.
func ClaimAny(name string, values ...string) Requirement {
	return Requirement{kind: reqClaimAny, claim: name, values: slices.Clone(values)}
}

// FromIssuer requires the token to come from one of the issuers named
// (the [Issuer] names of a multi-issuer Verifier). A valid token from
// another issuer is refused with [ErrIssuerNotAllowed] (401).
func FromIssuer(names ...string) Requirement {
	return Requirement{kind: reqIssuer, values: slices.Clone(names)}
}

// Requirements are the conditions of one route, all of which a verified
// token must meet. Make them with [Verifier.Requirements]; they are
// immutable and safe for concurrent use.
type Requirements struct {
	v    *Verifier
	reqs []Requirement
	// denied is the error of a token that lacks a scope, role or claim:
	// made once, so that a refusal allocates nothing.
	denied *ScopeError
}

// ScopeError is the error of a valid token that lacks a scope, role or
// claim value a route requires. It wraps [ErrInsufficientScope];
// [WriteError] answers it 403 insufficient_scope with Scope as the RFC 6750
// §3 "scope" attribute.
type ScopeError struct {
	// Scope is the space-separated scopes the route requires, "" when it
	// requires none (only roles or claims).
	Scope string
}

// Error implements error.
func (e *ScopeError) Error() string {
	if e.Scope == "" {
		return ErrInsufficientScope.Error()
	}
	return ErrInsufficientScope.Error() + ": requires scope " + e.Scope
}

// Unwrap returns [ErrInsufficientScope].
func (e *ScopeError) Unwrap() error { return ErrInsufficientScope }

// requiredScope returns the "scope" attribute for err: the scopes of the
// [ScopeError] in its chain, else "".
func requiredScope(err error) string {
	var se *ScopeError
	if errors.As(err, &se) {
		return se.Scope
	}
	return ""
}

// Requirements checks reqs and returns them as one route's conditions. An
// empty list is valid: any token v accepts meets it. Every [FromIssuer]
// name must be one of v's issuers ([NewMulti]); a single issuer's Verifier
// accepts no FromIssuer at all. Empty value lists and empty claim names
// are errors, so that no requirement is met by default.
func (v *Verifier) Requirements(reqs ...Requirement) (*Requirements, error) {
	var scopes []string
	for _, r := range reqs {
		if r.kind == 0 {
			return nil, errors.New("verifier: zero Requirement")
		}
		if len(r.values) == 0 {
			return nil, errors.New("verifier: a requirement lists no value")
		}
		if slices.Contains(r.values, "") {
			return nil, errors.New("verifier: empty value in a requirement")
		}
		switch r.kind {
		case reqClaimAll, reqClaimAny:
			if r.claim == "" {
				return nil, errors.New("verifier: requirement on a claim without a name")
			}
		case reqIssuer:
			for _, name := range r.values {
				if _, ok := v.IssuerVerifier(name); !ok {
					return nil, fmt.Errorf("verifier: FromIssuer(%q): no issuer of that name", name)
				}
			}
		case reqAllScopes, reqAnyScope:
			for _, s := range r.values {
				if strings.ContainsAny(s, " \t\"\\") {
					return nil, fmt.Errorf("verifier: scope %q holds a space, quote or backslash", s)
				}
				if !slices.Contains(scopes, s) {
					scopes = append(scopes, s)
				}
			}
		}
	}
	return &Requirements{v: v, reqs: slices.Clone(reqs), denied: &ScopeError{Scope: strings.Join(scopes, " ")}}, nil
}

// Check reports whether claims, which the Verifier of rs verified, meet
// every requirement: nil; an error wrapping [ErrIssuerNotAllowed] for a
// token from an issuer the route does not accept (checked first); or a
// [*ScopeError] for one that lacks a scope, role or claim value. It does
// not allocate.
func (rs *Requirements) Check(claims *jose.Claims) error {
	name, ok := rs.v.IssuerName(claims)
	return rs.CheckFrom(claims, name, ok)
}

// CheckFrom is [Requirements.Check] for claims whose issuer's name the
// caller has already from [Verifier.IssuerName] (issuer, known).
func (rs *Requirements) CheckFrom(claims *jose.Claims, issuer string, known bool) error {
	for i := range rs.reqs {
		if r := &rs.reqs[i]; r.kind == reqIssuer {
			if !known || !slices.Contains(r.values, issuer) {
				return ErrIssuerNotAllowed
			}
		}
	}
	for i := range rs.reqs {
		r := &rs.reqs[i]
		var ok bool
		switch r.kind {
		case reqAllScopes:
			ok = hasAll(claims, r.values, "scope", "scp")
		case reqAnyScope:
			ok = hasAny(claims, r.values, "scope", "scp")
		case reqAllRoles:
			ok = hasAll(claims, r.values, "roles", "role")
		case reqAnyRole:
			ok = hasAny(claims, r.values, "roles", "role")
		case reqClaimAll:
			ok = hasAll(claims, r.values, r.claim, "")
		case reqClaimAny:
			ok = hasAny(claims, r.values, r.claim, "")
		case reqIssuer:
			ok = true
		}
		if !ok {
			return rs.denied
		}
	}
	return nil
}

// Middleware returns net/http middleware, to be placed after [Middleware],
// that lets a request through only when its verified claims meet rs;
// otherwise 401 invalid_token (a token from an issuer not accepted here),
// or 403 insufficient_scope with the required scopes in the "scope"
// attribute. A request with no verified claims gets 401.
func (rs *Requirements) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, found := ClaimsFrom(r.Context())
		if !found {
			WriteError(w, "", ErrNoToken)
			return
		}
		if err := rs.Check(c); err != nil {
			WriteError(w, "", err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Require is [Verifier.Requirements] as middleware, for the routes of a
// mux:
//
//	mux.Handle("POST /orders", v.Require(verifier.AnyScope("write:orders"), verifier.FromIssuer("keyward"))(h))
//
// It panics when the requirements are invalid (an unknown issuer name, an
// empty list), as regexp.MustCompile does: they are written in code, and a
// route that silently required nothing would be worse.
func (v *Verifier) Require(reqs ...Requirement) func(http.Handler) http.Handler {
	rs, err := v.Requirements(reqs...)
	if err != nil {
		panic(err)
	}
	return rs.Middleware
}

// hasAll reports whether the claims a and b (b may be "") together hold
// every one of want.
func hasAll(c *jose.Claims, want []string, a, b string) bool {
	for _, w := range want {
		if !claimHas(c, a, w) && (b == "" || !claimHas(c, b, w)) {
			return false
		}
	}
	return true
}

// hasAny reports whether the claims a and b (b may be "") hold at least
// one of want.
func hasAny(c *jose.Claims, want []string, a, b string) bool {
	for _, w := range want {
		if claimHas(c, a, w) || (b != "" && claimHas(c, b, w)) {
			return true
		}
	}
	return false
}

// claimHas reports whether the claim name holds want, reading it as
// [jose.Claims.Strings] does ("scope" and "scp" strings split at white
// space), without allocating.
func claimHas(c *jose.Claims, name, want string) bool {
	switch name {
	case "iss":
		return c.Issuer == want
	case "sub":
		return c.Subject == want
	case "jti":
		return c.ID == want
	case "aud":
		return slices.Contains(c.Audience, want)
	}
	v, ok := c.Extra[name]
	if !ok {
		return false
	}
	switch t := v.(type) {
	case string:
		if name == "scope" || name == "scp" {
			return hasField(t, want)
		}
		return t == want
	case []string:
		return slices.Contains(t, want)
	case []any:
		for _, e := range t {
			if s, ok := e.(string); ok && s == want {
				return true
			}
		}
	}
	return false
}

// hasField reports whether want is one of the white-space separated fields
// of s, as strings.Fields splits them.
func hasField(s, want string) bool {
	ascii := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 || (c < ' ' && c != '\t' && c != '\n' && c != '\v' && c != '\f' && c != '\r') {
			ascii = false
			break
		}
	}
	if ascii {
		// The usual case: ASCII words separated by ASCII white space.
		for s != "" {
			i := 0
			for i < len(s) && !asciiSpace(s[i]) {
				i++
			}
			if s[:i] == want && i > 0 {
				return true
			}
			for i < len(s) && asciiSpace(s[i]) {
				i++
			}
			s = s[i:]
		}
		return false
	}
	for s != "" {
		i := strings.IndexFunc(s, unicode.IsSpace)
		if i < 0 {
			return s == want
		}
		if s[:i] == want {
			return true
		}
		s = strings.TrimLeftFunc(s[i:], unicode.IsSpace)
	}
	return false
}

func asciiSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}
