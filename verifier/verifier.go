// Package verifier checks JWT access tokens for a service: a policy
// (issuers, audiences, algorithms, leeway, token type) over a [KeySet] (a
// remote [jwks.Set], keys from files, or both), a bounded cache of verified
// tokens, and net/http middleware that answers with RFC 6750 errors.
//
// It imports no SQL driver and no issuer code, so that a service that only
// verifies tokens pulls in nothing else.
//
// It owns the verification policy, the cache of verified tokens and the
// middleware. It builds on jose, jwks and dpop and must never import issuer,
// server, gate, a storage backend or a SQL driver; TestDependencies checks
// the built dependencies with go list.
package verifier

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/keyward/keyward/dpop"
	"github.com/keyward/keyward/jose"
)

// Defaults of [Config].
const (
	DefaultLeeway    = 30 * time.Second
	DefaultCacheSize = 10000
)

// Token types (the "typ" header) of RFC 9068 access tokens and of plain
// JWTs.
const (
	TypeAccessToken = "at+jwt"
	TypeJWT         = "JWT"
)

// Config configures a [Verifier]. Each field documents its zero value; no
// zero value turns a check off.
type Config struct {
	// Keys gives the verification keys. Required.
	Keys KeySet

	// Issuers lists the accepted "iss" values, compared exactly. At least
	// one is required unless InsecureSkipIssuerCheck is set.
	Issuers []string
	// InsecureSkipIssuerCheck accepts any "iss" when Issuers is empty.
	// Without an issuer check, a token from any issuer whose keys the key
	// set holds is accepted.
	InsecureSkipIssuerCheck bool
	// Audiences lists the accepted audiences: "aud" must name at least one.
	// At least one is required unless InsecureSkipAudienceCheck is set.
	Audiences []string
	// InsecureSkipAudienceCheck accepts any "aud" when Audiences is empty,
	// so that a token minted for another service is accepted here too.
	InsecureSkipAudienceCheck bool

	// Algorithms is the allowlist of signature algorithms. Required and
	// non-empty; "none" does not exist, and HS* verify only with a
	// jose.SharedSecret in the key set.
	Algorithms []jose.Algorithm

	// Leeway is the clock skew allowed on "exp", "nbf" and "iat". Zero
	// means DefaultLeeway (30 s); set NoLeeway for none. Negative is an
	// error.
	Leeway time.Duration
	// NoLeeway makes the leeway exactly zero.
	NoLeeway bool

	// Types lists the accepted "typ" header values (compared without case
	// and without an "application/" prefix). Empty means "at+jwt" and
	// "JWT"; a token without "typ" is refused.
	Types []string
	// StrictType accepts only "at+jwt" (RFC 9068 §2.1, §4), whatever Types
	// says. Without it, an ID token (typ "JWT") that the issuer gave a
	// client whose ID is one of Audiences passes as an access token; set it
	// for every issuer that types its access tokens, keyward's included.
	StrictType bool
	// RequiredClaims lists claims that must be present besides "exp",
	// which always is; e.g. "sub", "jti".
	RequiredClaims []string

	// MaxTokenSize is the largest token accepted, checked before parsing.
	// Zero means jose.DefaultMaxTokenSize (16 KiB).
	MaxTokenSize int

	// CacheSize bounds the cache of verified tokens, in entries. Zero means
	// DefaultCacheSize (10 000); negative turns the cache off.
	CacheSize int

	// Revocations, when set, refuses tokens that the issuer's revocation
	// feed lists, with an error wrapping [ErrRevoked]; cached tokens too.
	// Nil means no revocation check.
	Revocations *RevocationList

	// Observer, when set, is told the outcome of every verification and of
	// every cache lookup, for metrics. Nil means none.
	Observer Observer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Observer receives the events of a [Verifier], typically to count them
// as metrics. Its methods must be safe for concurrent use and fast; they
// are called on the request path.
type Observer interface {
	// Verified reports one call of [Verifier.Verify]: outcome is "valid" or
	// "invalid", reason is "" for a valid token, else a short stable name
	// of the error category ("expired", "signature", "revoked"...; see
	// [Reason]).
	Verified(outcome, reason string)
	// CacheHit reports a token answered from the verified-token cache.
	CacheHit()
	// CacheMiss reports a token that had to be verified in full.
	CacheMiss()
}

// Verifier verifies access tokens. It is safe for concurrent use.
type Verifier struct {
	keys    KeySet
	algs    jose.AlgorithmSet
	policy  jose.Policy
	leeway  int64 // seconds, as jose.Policy counts it
	maxSize int
	now     func() time.Time
	cache   *lru.Cache[string, *entry]
	revoked *RevocationList
	obs     Observer
	multi   *multi // the issuers of a Verifier made by NewMulti; nil otherwise
}

// entry is one verified token in the cache. It holds its own copy of the
// Claims struct, so that callers may change the fields of theirs.
type entry struct {
	claims jose.Claims
	// aud holds a single audience, so that the entry does not keep alive
	// the allocation jose.VerifyJWTLimit made for the token.
	aud [1]string
	kid string
	key *jose.JWK // the key that verified it, by identity
	exp int64
	src *Verifier // whose keys, leeway and revocations checked it
}

// newEntry makes the cache entry of claims verified by key under src's
// policy.
func newEntry(claims *jose.Claims, kid string, key *jose.JWK, src *Verifier) *entry {
	e := &entry{claims: *claims, kid: kid, key: key, exp: int64(claims.Expiry), src: src}
	if len(claims.Audience) == 1 {
		e.aud[0] = claims.Audience[0]
		e.claims.Audience = e.aud[:]
	}
	return e
}

// New validates cfg and returns a Verifier.
func New(cfg Config) (*Verifier, error) {
	if cfg.Keys == nil {
		return nil, fmt.Errorf("verifier: Config.Keys is required")
	}
	algs, err := jose.NewAlgorithmSet(cfg.Algorithms...)
	if err != nil {
		return nil, fmt.Errorf("verifier: Config.Algorithms: %w", err)
	}
	if len(cfg.Issuers) == 0 && !cfg.InsecureSkipIssuerCheck {
		return nil, fmt.Errorf("verifier: Config.Issuers is empty; name the accepted issuers (or set InsecureSkipIssuerCheck)")
	}
	if len(cfg.Audiences) == 0 && !cfg.InsecureSkipAudienceCheck {
		return nil, fmt.Errorf("verifier: Config.Audiences is empty; name the accepted audiences (or set InsecureSkipAudienceCheck)")
	}
	for _, s := range slices.Concat(cfg.Issuers, cfg.Audiences) {
		if s == "" {
			return nil, fmt.Errorf("verifier: empty issuer or audience in Config")
		}
	}
	leeway := cfg.Leeway
	switch {
	case leeway < 0:
		return nil, fmt.Errorf("verifier: negative Config.Leeway")
	case cfg.NoLeeway:
		leeway = 0
	case leeway == 0:
		leeway = DefaultLeeway
	}
	types := cfg.Types
	switch {
	case cfg.StrictType:
		types = []string{TypeAccessToken}
	case len(types) == 0:
		types = []string{TypeAccessToken, TypeJWT}
	}
	if cfg.MaxTokenSize < 0 {
		return nil, fmt.Errorf("verifier: negative Config.MaxTokenSize")
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	v := &Verifier{
		keys:    cfg.Keys,
		algs:    algs,
		leeway:  int64(leeway / time.Second),
		maxSize: cfg.MaxTokenSize,
		now:     now,
		revoked: cfg.Revocations,
		obs:     cfg.Observer,
		policy: jose.Policy{
			Issuers:   slices.Clone(cfg.Issuers),
			Audiences: slices.Clone(cfg.Audiences),
			Types:     slices.Clone(types),
			Required:  slices.Clone(cfg.RequiredClaims),
			Leeway:    leeway,
			Now:       now,
		},
	}
	size := cfg.CacheSize
	if size == 0 {
		size = DefaultCacheSize
	}
	if size > 0 {
		v.cache, err = lru.New[string, *entry](size)
		if err != nil {
			return nil, fmt.Errorf("verifier: %w", err)
		}
	}
	return v, nil
}

// Verify checks token completely — size, signature with a key from the key
// set under the algorithm allowlist, then type, expiry, issuer, audience and
// required claims — and returns its claims.
//
// Every call returns a Claims struct of its own, whose fields the caller may
// reassign. What they point to may be shared with the verified-token cache
// and with concurrent callers that verified the same token, and must be
// treated as read-only: the elements of Audience, and the Extra map with
// the maps and slices in it (clone them before changing them, or assign a
// new Extra).
//
// Errors wrap one of the jose categories (jose.ErrExpired,
// jose.ErrSignature, jose.ErrAudience...) or [ErrKeySourceUnavailable]; their
// messages are precise and meant for logs; [Description] gives the text to
// show a client.
//
// A token bound to a key by DPoP ("cnf.jkt") verifies here like any other:
// Verify does not see the request, so it cannot check the proof. The
// [Middleware] checks it (and refuses such a token sent as Bearer); a
// caller that verifies tokens itself must check the proof with
// dpop.Checker.CheckBound.
//
// A token verified before is answered from the cache, keyed by the exact
// token: the hit is still checked against the clock ("exp" with the leeway)
// and against the key set, so a token whose key has left the set is
// verified again, and fails.
func (v *Verifier) Verify(ctx context.Context, token string) (*jose.Claims, error) {
	claims, cached, err := v.observed(ctx, token)
	if cached {
		c := *claims
		claims = &c
	}
	return claims, err
}

// verifyShared is [Verifier.Verify] for callers that copy the claims
// themselves before handing them out ([Middleware]): a cache hit answers
// with the cached claims, which must not be modified.
func (v *Verifier) verifyShared(ctx context.Context, token string) (*jose.Claims, error) {
	claims, _, err := v.observed(ctx, token)
	return claims, err
}

// observed is verify with the outcome told to the observer.
func (v *Verifier) observed(ctx context.Context, token string) (*jose.Claims, bool, error) {
	claims, cached, src, err := v.verify(ctx, token)
	if v.obs != nil {
		observe(v.obs, err)
	}
	if src != v && src.obs != nil {
		observe(src.obs, err)
	}
	return claims, cached, err
}

// observe tells obs the outcome err of one verification.
func observe(obs Observer, err error) {
	if err != nil {
		obs.Verified("invalid", Reason(err))
	} else {
		obs.Verified("valid", "")
	}
}

// verify checks token and reports whether the claims are the cache's own,
// which nobody may modify, and which verifier's policy checked it: v, or
// in a multi-issuer Verifier the issuer's (v itself when no issuer took
// the token).
func (v *Verifier) verify(ctx context.Context, token string) (*jose.Claims, bool, *Verifier, error) {
	if v.cache != nil {
		if e, ok := v.cache.Get(token); ok {
			src := e.src
			if v.now().Unix() < e.exp+src.leeway {
				ks, err := src.keys.Keys(ctx, e.kid)
				if err != nil {
					return nil, false, src, fmt.Errorf("%w: %w", ErrKeySourceUnavailable, err)
				}
				for _, k := range ks.Lookup(e.kid) {
					if k == e.key {
						if err := src.checkRevoked(&e.claims); err != nil {
							v.cache.Remove(token)
							return nil, false, src, err
						}
						if v.obs != nil {
							v.obs.CacheHit()
						}
						return &e.claims, true, src, nil
					}
				}
			}
			v.cache.Remove(token)
		}
		if v.obs != nil {
			v.obs.CacheMiss()
		}
	}
	if v.multi != nil {
		src, name, err := v.multi.route(token, v.maxSize)
		if err != nil {
			return nil, false, v, err
		}
		claims, kid, key, err := src.verifyUncached(ctx, token)
		if err != nil {
			return nil, false, src, fmt.Errorf("issuer %s: %w", name, err)
		}
		if v.cache != nil {
			v.cache.Add(token, newEntry(claims, kid, key, src))
		}
		return claims, false, src, nil
	}
	claims, kid, key, err := v.verifyUncached(ctx, token)
	if err != nil {
		return nil, false, v, err
	}
	if v.cache != nil {
		v.cache.Add(token, newEntry(claims, kid, key, v))
	}
	return claims, false, v, nil
}

// verifyUncached checks token in full under v's policy, and returns its
// claims and the key that verified it.
func (v *Verifier) verifyUncached(ctx context.Context, token string) (*jose.Claims, string, *jose.JWK, error) {
	// jose.VerifyJWTLimit decodes a typical token on its stack and puts
	// the claims in one allocation; it asks for the header's kid once,
	// after checking the algorithm against the allowlist. The key lookup
	// and the error it keeps are one allocation.
	lookup := &keyLookup{ctx: ctx, keys: v.keys}
	tok, err := jose.VerifyJWTLimit(token, v.maxSize, lookup, v.algs, &v.policy)
	if lookup.err != nil {
		return nil, "", nil, fmt.Errorf("%w: %w", ErrKeySourceUnavailable, lookup.err)
	}
	if err != nil {
		return nil, "", nil, err
	}
	claims := tok.Claims
	if err := v.checkRevoked(claims); err != nil {
		return nil, "", nil, err
	}
	return claims, tok.Header.KeyID, tok.Key, nil
}

// keyLookup is the [jose.KeySet] of one verification: the keys of kid from
// the verifier's key source, and the source's error, which fails the
// verification as unavailable rather than as an unknown key.
type keyLookup struct {
	ctx  context.Context
	keys KeySet
	err  error
}

var _ jose.KeySet = (*keyLookup)(nil)

// Lookup implements [jose.KeySet].
func (l *keyLookup) Lookup(kid string) []*jose.JWK {
	ks, err := l.keys.Keys(l.ctx, kid)
	if err != nil {
		l.err = err
		return nil
	}
	return ks.Lookup(kid)
}

// reasons are the names of the error categories for [Reason], most
// specific first.
var reasons = []struct {
	err  error
	name string
}{
	{ErrDPoPRequired, "dpop_required"},
	{ErrBoundAsBearer, "dpop_bound_as_bearer"},
	{ErrNotBound, "dpop_not_bound"},
	{dpop.ErrReplay, "dpop_replay"},
	{dpop.ErrNoProof, "dpop_missing"},
	{dpop.ErrKeyMismatch, "dpop_key_mismatch"},
	{dpop.ErrUseNonce, "dpop_use_nonce"},
	{dpop.ErrReplayCacheFull, "dpop_replay_cache_full"},
	{dpop.ErrKeyQuota, "dpop_key_quota"},
	{dpop.ErrInvalidProof, "dpop_invalid"},
	{ErrRevoked, "revoked"},
	{ErrKeySourceUnavailable, "key_source_unavailable"},
	{jose.ErrTooLarge, "too_large"},
	{jose.ErrMalformed, "malformed"},
	{jose.ErrUnsupported, "unsupported"},
	{jose.ErrAlgorithmNotAllowed, "algorithm_not_allowed"},
	{jose.ErrKeyNotFound, "key_not_found"},
	{jose.ErrSignature, "signature"},
	{jose.ErrInvalidKey, "invalid_key"},
	{jose.ErrExpired, "expired"},
	{jose.ErrNotYetValid, "not_yet_valid"},
	{jose.ErrIssuer, "issuer"},
	{jose.ErrAudience, "audience"},
	{jose.ErrMissingClaim, "missing_claim"},
	{jose.ErrType, "type"},
}

// Reason names the category of a verification error with a short stable
// string fit for a metric label ("expired", "signature", "revoked"...,
// and for the DPoP refusals of [Middleware] "dpop_required",
// "dpop_bound_as_bearer", "dpop_not_bound" and those of [dpop.Reason]);
// "" for nil and "other" for an error of no known category. It never
// includes anything from the token.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return "other"
}

// checkRevoked applies the revocation list, when there is one.
func (v *Verifier) checkRevoked(c *jose.Claims) error {
	if v.revoked == nil {
		return nil
	}
	return v.revoked.Check(c)
}

// Algorithms returns the allowlist.
func (v *Verifier) Algorithms() []jose.Algorithm { return v.algs.Algorithms() }

// Issuers returns the accepted issuers.
func (v *Verifier) Issuers() []string { return slices.Clone(v.policy.Issuers) }

// Audiences returns the accepted audiences.
func (v *Verifier) Audiences() []string { return slices.Clone(v.policy.Audiences) }

// CacheLen returns the number of tokens in the verified-token cache.
func (v *Verifier) CacheLen() int {
	if v.cache == nil {
		return 0
	}
	return v.cache.Len()
}
