package jose

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// NumericDate is a JWT time (RFC 7519 §2): whole seconds since the Unix
// epoch. The zero value means the claim is absent; a fractional value is
// truncated to the second.
type NumericDate int64

// NewNumericDate returns t as a NumericDate.
func NewNumericDate(t time.Time) NumericDate { return NumericDate(t.Unix()) }

// Time returns d as a time.Time, or the zero time when d is absent.
func (d NumericDate) Time() time.Time {
	if d == 0 {
		return time.Time{}
	}
	return time.Unix(int64(d), 0)
}

// UnmarshalJSONFrom reads a JSON number.
func (d *NumericDate) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	if tok.Kind() != '0' {
		return fmt.Errorf("%w: a date must be a JSON number", ErrMalformed)
	}
	if i, err := tok.Int(); err == nil && i >= -(1<<53) && i <= 1<<53 {
		*d = NumericDate(i)
		return nil
	}
	f, err := tok.Float()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f > 1<<53 || f < -(1<<53) {
		return fmt.Errorf("%w: date out of range", ErrMalformed)
	}
	*d = NumericDate(math.Floor(f))
	return nil
}

// Audience is the "aud" claim: one or more strings. A single audience is
// written as a plain string, as most verifiers expect.
type Audience []string

// MarshalJSONTo writes a single audience as a string, several as an array.
func (a Audience) MarshalJSONTo(enc *jsontext.Encoder) error {
	if len(a) == 1 {
		return enc.WriteToken(jsontext.String(a[0]))
	}
	return json.MarshalEncode(enc, []string(a))
}

// UnmarshalJSONFrom reads a string or an array of strings.
func (a *Audience) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	if dec.PeekKind() == '"' {
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		*a = Audience{tok.String()}
		return nil
	}
	var list []string
	if err := json.UnmarshalDecode(dec, &list); err != nil {
		return fmt.Errorf("%w: \"aud\" must be a string or an array of strings", ErrMalformed)
	}
	*a = list
	return nil
}

// Contains reports whether aud is one of the audiences.
func (a Audience) Contains(aud string) bool { return slices.Contains(a, aud) }

// Claims is a JWT claims set (RFC 7519 §4): the registered claims as typed
// fields and every other claim in Extra, with JSON types kept (numbers are
// float64, objects map[string]any).
type Claims struct {
	Issuer    string         `json:"iss,omitempty"`
	Subject   string         `json:"sub,omitempty"`
	Audience  Audience       `json:"aud,omitempty"`
	Expiry    NumericDate    `json:"exp,omitzero"`
	NotBefore NumericDate    `json:"nbf,omitzero"`
	IssuedAt  NumericDate    `json:"iat,omitzero"`
	ID        string         `json:"jti,omitempty"`
	Extra     map[string]any `json:",embed"`
}

// UnmarshalJSONFrom reads a claims set member by member on the strict
// decoder (duplicate names and invalid UTF-8 are errors there): registered
// claims must have their JSON types, every other member goes into Extra,
// which stays nil when there is none.
func (c *Claims) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	if dec.PeekKind() != '{' {
		return errors.New("the payload is not a JSON object")
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return err
		}
		// The switch on the name does not allocate; only the names of
		// private claims, kept in Extra, become strings.
		switch name.String() {
		case "iss":
			c.Issuer, err = readStringClaim(dec, "iss")
		case "sub":
			c.Subject, err = readStringClaim(dec, "sub")
		case "jti":
			c.ID, err = readStringClaim(dec, "jti")
		case "aud":
			err = c.Audience.UnmarshalJSONFrom(dec)
		case "exp":
			err = c.Expiry.UnmarshalJSONFrom(dec)
		case "nbf":
			err = c.NotBefore.UnmarshalJSONFrom(dec)
		case "iat":
			err = c.IssuedAt.UnmarshalJSONFrom(dec)
		default:
			key := name.String()
			v, err := readAny(dec)
			if err != nil {
				return err
			}
			if c.Extra == nil {
				c.Extra = make(map[string]any, 4)
			}
			c.Extra[key] = v
		}
		if err != nil {
			return err
		}
	}
	_, err := dec.ReadToken()
	return err
}

// readAny reads any JSON value as encoding/json would into an any: strings,
// float64, bool, nil, []any and map[string]any. Scalars are read directly,
// which is most private claims.
func readAny(dec *jsontext.Decoder) (any, error) {
	switch dec.PeekKind() {
	case '"':
		v, err := readString(dec, "")
		return string(v), err
	case '0':
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, err
		}
		f, err := tok.Float()
		if err != nil {
			return nil, err
		}
		return f, nil
	case 't', 'f', 'n':
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, err
		}
		if tok.Kind() == 'n' {
			return nil, nil
		}
		return tok.Bool(), nil
	}
	var v any
	err := json.UnmarshalDecode(dec, &v)
	return v, err
}

func readStringClaim(dec *jsontext.Decoder, name string) (string, error) {
	v, err := readString(dec, name)
	return string(v), err
}

// ParseClaims decodes a JWT payload strictly: a JSON object, no duplicate
// member names, registered claims of the right JSON types.
func ParseClaims(payload []byte) (*Claims, error) {
	c := new(Claims)
	if err := parseClaims(string(payload), nil, c); err != nil {
		return nil, err
	}
	return c, nil
}

// parseClaims is ParseClaims into c, which must be zero. The strings of c
// are slices of payload. aud, when not nil, holds a single audience.
func parseClaims(payload string, aud *[1]string, c *Claims) error {
	// The decoder takes "null" for an empty object; a claims set must be
	// an object.
	if i := firstNonSpace(payload); i < 0 || payload[i] != '{' {
		return fmt.Errorf("%w: claims: the payload is not a JSON object", ErrMalformed)
	}
	if fastClaims(payload, aud, c) {
		return nil
	}
	*c = Claims{}
	if err := json.Unmarshal([]byte(payload), c); err != nil {
		return fmt.Errorf("%w: claims: %v", ErrMalformed, jsonReason(err))
	}
	return nil
}

// firstNonSpace returns the index of the first byte of b that is not JSON
// whitespace, or -1.
func firstNonSpace(b string) int {
	for i := range len(b) {
		c := b[i]
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			return i
		}
	}
	return -1
}

// MarshalJSON encodes the claims; an Extra member that repeats a registered
// claim's name is an error rather than a second, conflicting member.
func (c *Claims) MarshalJSON() ([]byte, error) {
	type plain Claims // drop the method to avoid recursion
	return json.Marshal((*plain)(c), json.Deterministic(true))
}

// Get returns a claim by name, registered or not, as its JSON value would
// decode into an any.
func (c *Claims) Get(name string) (any, bool) {
	switch name {
	case "iss":
		return c.Issuer, c.Issuer != ""
	case "sub":
		return c.Subject, c.Subject != ""
	case "aud":
		return []string(c.Audience), len(c.Audience) > 0
	case "exp":
		return float64(c.Expiry), c.Expiry != 0
	case "nbf":
		return float64(c.NotBefore), c.NotBefore != 0
	case "iat":
		return float64(c.IssuedAt), c.IssuedAt != 0
	case "jti":
		return c.ID, c.ID != ""
	}
	v, ok := c.Extra[name]
	return v, ok
}

// String returns a string claim, or "" when it is absent or not a string.
func (c *Claims) String(name string) string {
	v, _ := c.Get(name)
	s, _ := v.(string)
	return s
}

// Strings returns a claim that is a string or an array of strings as a
// slice; for "scope" a space-separated string is split (RFC 8693 §4.2).
func (c *Claims) Strings(name string) []string {
	v, ok := c.Get(name)
	if !ok {
		return nil
	}
	switch t := v.(type) {
	case string:
		if name == "scope" || name == "scp" {
			return strings.Fields(t)
		}
		return []string{t}
	case []string:
		return t
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// Policy says which verified claims to accept. Every check it describes is
// made on each call; the zero Policy still requires "exp" and checks "exp",
// "nbf" and "iat" against the clock.
type Policy struct {
	// Issuers, when not empty, lists the accepted "iss" values; empty means
	// "iss" is not checked. Verifiers that accept tokens from a network
	// should always set it.
	Issuers []string
	// Audiences, when not empty, lists the accepted audiences: "aud" must
	// contain at least one. Empty means "aud" is not checked.
	Audiences []string
	// Types, when not empty, lists the accepted "typ" header values,
	// compared case-insensitively with any "application/" prefix removed
	// (RFC 7515 §4.1.9); a token without "typ" is then refused. Empty
	// means any type.
	Types []string
	// Required lists claims that must be present, besides "exp".
	Required []string
	// Leeway is the clock skew allowed on "exp", "nbf" and "iat"; zero
	// means none.
	Leeway time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Validate checks the header and claims of a token whose signature has
// already been verified. Errors wrap one of ErrExpired, ErrNotYetValid,
// ErrIssuer, ErrAudience, ErrMissingClaim and ErrType, with a reason that
// says by how much and what was expected.
func (p *Policy) Validate(h *Header, c *Claims) error {
	if len(p.Types) > 0 && !typeAccepted(h.Type, p.Types) {
		if h.Type == "" {
			return fmt.Errorf("%w: no typ, want %s", ErrType, strings.Join(p.Types, " or "))
		}
		return fmt.Errorf("%w: typ is %q, want %s", ErrType, sanitize(h.Type), strings.Join(p.Types, " or "))
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	t := now()
	sec := t.Unix()
	leeway := int64(p.Leeway / time.Second)
	if c.Expiry == 0 {
		return fmt.Errorf("%w: exp", ErrMissingClaim)
	}
	if sec >= int64(c.Expiry)+leeway {
		return fmt.Errorf("%w: expired %s ago", ErrExpired, t.Sub(c.Expiry.Time()).Truncate(time.Second))
	}
	if c.NotBefore != 0 && sec < int64(c.NotBefore)-leeway {
		return fmt.Errorf("%w: not valid for another %s", ErrNotYetValid, c.NotBefore.Time().Sub(t).Truncate(time.Second))
	}
	if c.IssuedAt != 0 && sec < int64(c.IssuedAt)-leeway {
		return fmt.Errorf("%w: issued %s in the future", ErrNotYetValid, c.IssuedAt.Time().Sub(t).Truncate(time.Second))
	}
	if len(p.Issuers) > 0 && !slices.Contains(p.Issuers, c.Issuer) {
		return fmt.Errorf("%w: iss is %q, want %s", ErrIssuer, sanitize(c.Issuer), quoteList(p.Issuers))
	}
	if len(p.Audiences) > 0 && !slices.ContainsFunc(p.Audiences, c.Audience.Contains) {
		return fmt.Errorf("%w: aud is %s, want %s", ErrAudience, quoteList(c.Audience), quoteList(p.Audiences))
	}
	for _, name := range p.Required {
		if _, ok := c.Get(name); !ok {
			return fmt.Errorf("%w: %s", ErrMissingClaim, name)
		}
	}
	return nil
}

func quoteList(list []string) string {
	if len(list) > 8 {
		list = list[:8]
	}
	parts := make([]string, len(list))
	for i, s := range list {
		parts[i] = sanitize(s)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// typeAccepted compares typ values per RFC 7515 §4.1.9.
func typeAccepted(typ string, accepted []string) bool {
	t := trimMediaPrefix(typ)
	for _, a := range accepted {
		if strings.EqualFold(t, trimMediaPrefix(a)) {
			return true
		}
	}
	return false
}

func trimMediaPrefix(s string) string {
	if len(s) > 12 && strings.EqualFold(s[:12], "application/") {
		return s[12:]
	}
	return s
}

// Token is a verified and validated JWT.
type Token struct {
	Header Header
	Claims *Claims
	// Key is the key that verified the signature.
	Key *JWK
}

// VerifyJWT is the whole check of a JWT in compact form: the size limit of
// [Parse], the signature with a key of keys under the allowlist algs
// ([JWS.Verify]), the claims ([ParseClaims]) and their validation by policy
// ([Policy.Validate]), in that order, so nothing in the payload is trusted
// before the signature holds. A nil policy is the zero Policy.
func VerifyJWT(token string, keys KeySet, algs AlgorithmSet, policy *Policy) (*Token, error) {
	return VerifyJWTLimit(token, DefaultMaxTokenSize, keys, algs, policy)
}

// VerifyJWTLimit is [VerifyJWT] with the size limit of [ParseLimit]: maxSize
// bytes, 0 meaning DefaultMaxTokenSize. keys is asked for the header's
// "kid" once, after the header has been read, so a key set that fetches
// keys on demand learns which one to look for.
func VerifyJWTLimit(token string, maxSize int, keys KeySet, algs AlgorithmSet, policy *Policy) (*Token, error) {
	// Typical tokens are decoded on the stack.
	var scratch [1024]byte
	var h Header
	seg, text, err := decodeJWS(token, maxSize, scratch[:], &h, nil)
	if err != nil {
		return nil, err
	}
	key, err := verifyParts(keys, algs, &h, seg.input, seg.signature)
	if err != nil {
		return nil, err
	}
	// The token, its claims and a single audience are one allocation.
	v := new(struct {
		t   Token
		c   Claims
		aud [1]string
	})
	if err := parseClaims(text, &v.aud, &v.c); err != nil {
		return nil, err
	}
	if policy == nil {
		policy = &Policy{}
	}
	if err := policy.Validate(&h, &v.c); err != nil {
		return nil, err
	}
	v.t = Token{Header: h, Claims: &v.c, Key: key}
	return &v.t, nil
}

// SignJWT signs claims as a JWT with typ in the header ("JWT" when empty;
// RFC 9068 access tokens use "at+jwt").
func (s *Signer) SignJWT(typ string, claims *Claims) (string, error) {
	if typ == "" {
		typ = "JWT"
	}
	payload, err := claims.MarshalJSON()
	if err != nil {
		return "", fmt.Errorf("jose: encoding claims: %w", err)
	}
	return s.Sign(typ, payload)
}

// ConfirmationJKT returns the thumbprint the claims bind their token to:
// the "jkt" member of the "cnf" claim (RFC 9449 §6.1, RFC 7800). It
// returns "" for a token that is not bound by a key thumbprint: no "cnf",
// or a "cnf" without "jkt" (a confirmation method of another kind). A
// "cnf" that is not an object, or a "jkt" that is not a non-empty string,
// is an error wrapping [ErrMalformed]: the token is bound to something no
// one can prove, and must be refused.
func (c *Claims) ConfirmationJKT() (string, error) {
	v, ok := c.Extra["cnf"]
	if !ok {
		return "", nil
	}
	cnf, ok := v.(map[string]any)
	if !ok {
		return "", fmt.Errorf("%w: \"cnf\" is not an object", ErrMalformed)
	}
	j, ok := cnf["jkt"]
	if !ok {
		return "", nil
	}
	jkt, ok := j.(string)
	if !ok || jkt == "" {
		return "", fmt.Errorf("%w: \"cnf.jkt\" is not a non-empty string", ErrMalformed)
	}
	return jkt, nil
}
