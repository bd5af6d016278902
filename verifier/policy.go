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
	v *Verifier
	// issuers are the name lists of the FromIssuer requirements: a
	// token's issuer must be in each.
	issuers [][]string
	// allowed[i] reports whether the issuer at position i of
	// v.IssuerNames is in each of issuers.
	allowed []bool
	// claims are the other requirements, in the order given.
	claims []claimReq
	// denied is the error of a token that lacks a scope, role or claim:
	// made once, so that a refusal allocates nothing.
	denied *ScopeError
}

// claimReq is a scope, role or claim requirement, compiled: the values
// that claim a, or b when there is one, must hold (all of them or one).
type claimReq struct {
	all    bool
	a, b   claimRef
	values []string
}

// claimRef is a claim a requirement reads, resolved once: a registered
// claim of [jose.Claims], or a member of Extra, whose string value is a
// list of white-space separated fields for "scope" and "scp".
type claimRef struct {
	kind   claimKind
	name   string // for claimExtra; "" for no claim at all
	fields bool
}

type claimKind uint8

const (
	claimNone claimKind = iota
	claimExtra
	claimIss
	claimSub
	claimJTI
	claimAud
)

// newClaimRef resolves the claim name; "" is no claim, which holds nothing.
func newClaimRef(name string) claimRef {
	switch name {
	case "":
		return claimRef{kind: claimNone}
	case "iss":
		return claimRef{kind: claimIss}
	case "sub":
		return claimRef{kind: claimSub}
	case "jti":
		return claimRef{kind: claimJTI}
	case "aud":
		return claimRef{kind: claimAud}
	}
	return claimRef{kind: claimExtra, name: name, fields: name == "scope" || name == "scp"}
}

// compile returns r, a requirement other than FromIssuer, as a claimReq.
func (r *Requirement) compile() claimReq {
	var a, b string
	all := false
	switch r.kind {
	case reqAllScopes:
		a, b, all = "scope", "scp", true
	case reqAnyScope:
		a, b = "scope", "scp"
	case reqAllRoles:
		a, b, all = "roles", "role", true
	case reqAnyRole:
		a, b = "roles", "role"
	case reqClaimAll:
		a, all = r.claim, true
	case reqClaimAny:
		a = r.claim
	}
	return claimReq{all: all, a: newClaimRef(a), b: newClaimRef(b), values: slices.Clone(r.values)}
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
	rs := &Requirements{v: v, denied: &ScopeError{Scope: strings.Join(scopes, " ")}}
	for i := range reqs {
		if r := &reqs[i]; r.kind == reqIssuer {
			rs.issuers = append(rs.issuers, slices.Clone(r.values))
		} else {
			rs.claims = append(rs.claims, r.compile())
		}
	}
	for _, name := range v.IssuerNames() {
		ok := true
		for _, names := range rs.issuers {
			ok = ok && slices.Contains(names, name)
		}
		rs.allowed = append(rs.allowed, ok)
	}
	return rs, nil
}

// Check reports whether claims, which the Verifier of rs verified, meet
// every requirement: nil; an error wrapping [ErrIssuerNotAllowed] for a
// token from an issuer the route does not accept (checked first); or a
// [*ScopeError] for one that lacks a scope, role or claim value. It does
// not allocate.
func (rs *Requirements) Check(claims *jose.Claims) error {
	return rs.CheckIndex(claims, rs.v.IssuerIndex(claims))
}

// CheckIndex is [Requirements.Check] for claims whose issuer's position the
// caller has already from [Verifier.IssuerIndex] of the Verifier of rs (-1
// for none): the cheapest form, for a caller that keeps something per
// issuer anyway. A position that is none of that Verifier's issuers meets
// no [FromIssuer] requirement; one taken from another Verifier would make
// the issuer check meaningless.
func (rs *Requirements) CheckIndex(claims *jose.Claims, issuer int) error {
	if len(rs.issuers) > 0 && (issuer < 0 || issuer >= len(rs.allowed) || !rs.allowed[issuer]) {
		return ErrIssuerNotAllowed
	}
	return rs.checkClaims(claims)
}

// CheckFrom is [Requirements.Check] for claims whose issuer's name the
// caller has already from [Verifier.IssuerName] (issuer, known).
func (rs *Requirements) CheckFrom(claims *jose.Claims, issuer string, known bool) error {
	for _, names := range rs.issuers {
		if !known || !slices.Contains(names, issuer) {
			return ErrIssuerNotAllowed
		}
	}
	return rs.checkClaims(claims)
}

// checkClaims checks the requirements other than FromIssuer.
func (rs *Requirements) checkClaims(claims *jose.Claims) error {
	for i := range rs.claims {
		if !rs.claims[i].met(claims) {
			return rs.denied
		}
	}
	return nil
}

// met reports whether claims meet r: the claims a and b (when there is
// one) hold, between them, every one of r's values, or at least one.
func (r *claimReq) met(c *jose.Claims) bool {
	if !r.all {
		return r.a.holdsAny(c, r.values) || r.b.holdsAny(c, r.values)
	}
	for i := range r.values {
		w := r.values[i : i+1]
		if !r.a.holdsAny(c, w) && !r.b.holdsAny(c, w) {
			return false
		}
	}
	return true
}

// Middleware returns net/http middleware, to be placed after [Middleware],
// that lets a request through only when its verified claims meet rs;
// otherwise 401 invalid_token (a token from an issuer not accepted here),
// or 403 insufficient_scope with the required scopes in the "scope"
// attribute, in the challenge of the scheme the request used
// ([ChallengeError]). A request with no verified claims gets 401.
func (rs *Requirements) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, found := ClaimsFrom(r.Context())
		if !found {
			WriteError(w, "", ErrNoToken)
			return
		}
		if err := rs.Check(c); err != nil {
			WriteError(w, "", ChallengeError(r.Context(), err))
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

// holdsAny reports whether the claim r holds at least one of want,
// reading it as [jose.Claims.Strings] does ("scope" and "scp" strings split
// at white space), without allocating. No claim holds nothing.
func (r *claimRef) holdsAny(c *jose.Claims, want []string) bool {
	switch r.kind {
	case claimNone:
		return false
	case claimIss:
		return slices.Contains(want, c.Issuer)
	case claimSub:
		return slices.Contains(want, c.Subject)
	case claimJTI:
		return slices.Contains(want, c.ID)
	case claimAud:
		for _, a := range c.Audience {
			if slices.Contains(want, a) {
				return true
			}
		}
		return false
	}
	v, ok := c.Extra[r.name]
	if !ok {
		return false
	}
	switch t := v.(type) {
	case string:
		if r.fields {
			return hasField(t, want...)
		}
		return slices.Contains(want, t)
	case []string:
		for _, s := range t {
			if slices.Contains(want, s) {
				return true
			}
		}
	case []any:
		for _, e := range t {
			if s, ok := e.(string); ok && slices.Contains(want, s) {
				return true
			}
		}
	}
	return false
}

// hasField reports whether one of want is one of the white-space
// separated fields of s, as strings.Fields splits them.
func hasField(s string, want ...string) bool {
	// The usual case: ASCII words separated by ASCII white space, read in
	// one pass. A field of printable ASCII between ASCII white space is a
	// field however the rest of s reads; at any other byte, s is read
	// again as strings.Fields reads a string that is not all ASCII.
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if ' ' < c && c < 0x80 {
			continue
		}
		if !asciiSpace(c) {
			return hasFieldFunc(s, want)
		}
		if i > start && slices.Contains(want, s[start:i]) {
			return true
		}
		start = i + 1
	}
	return start < len(s) && slices.Contains(want, s[start:])
}

// hasFieldFunc is hasField for a string that is not all ASCII: its fields
// are separated by Unicode white space.
func hasFieldFunc(s string, want []string) bool {
	for s != "" {
		i := strings.IndexFunc(s, unicode.IsSpace)
		if i < 0 {
			return slices.Contains(want, s)
		}
		if i > 0 && slices.Contains(want, s[:i]) {
			return true
		}
		s = strings.TrimLeftFunc(s[i:], unicode.IsSpace)
	}
	return false
}

func asciiSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}
