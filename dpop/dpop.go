// Package dpop checks and makes DPoP proofs (RFC 9449): the proof of
// possession of a key pair that a client sends with every request in a
// DPoP header, so that an access token bound to that key (its "cnf.jkt"
// claim) is worth nothing to whoever steals it without the private key.
//
// A [Checker] verifies proofs for a resource server or an authorization
// server, with a replay cache bounded by the proof window; [Nonces] makes
// the optional server nonces that several replicas all accept; [NewProof]
// and [Transport] make proofs for clients.
//
// It builds on jose and the standard library only, and must never import
// verifier, issuer, server or a storage backend: the verifier's middleware
// and the issuer's token endpoint both use it.
package dpop

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/keyward/keyward/jose"
)

// HTTP names of RFC 9449.
const (
	// Header is the request header that carries a proof (§4.1).
	Header = "DPoP"
	// NonceHeader is the response header that carries a server nonce (§8).
	NonceHeader = "DPoP-Nonce"
	// Scheme is the Authorization scheme of a DPoP-bound access token (§7.1).
	Scheme = "DPoP"
	// ProofType is the "typ" header of a proof (§4.2).
	ProofType = "dpop+jwt"
)

// Defaults of [Config].
const (
	// DefaultWindow is how far a proof's "iat" may lie from the checker's
	// clock, either way: 60 s covers a client's clock a little off and a
	// slow request, and bounds both how long a proof that leaks (in a log,
	// a proxy) can be replayed elsewhere and how long the replay cache must
	// remember it.
	DefaultWindow = 60 * time.Second
	// DefaultMaxProofSize bounds a proof, checked before parsing: 8 KiB
	// holds a proof with an 8192-bit RSA key.
	DefaultMaxProofSize = 8 << 10
	// DefaultReplayCacheSize bounds the replay cache: 262 144 proofs, about
	// 4 000 a second sustained with the default window, in about 36 MiB
	// (75 MiB when every proof is of another key).
	DefaultReplayCacheSize = 1 << 18
	// DefaultReplayKeyShare is the share of the replay cache one key may
	// hold by default once the cache is half full: 1/DefaultReplayKeyShare
	// of it (2 621 proofs of the default cache, about 43 a second
	// sustained with the default window), but never fewer than
	// [MinReplayKeyQuota]. Below half full no key is held back, so a busy
	// service making calls with one key may use up to half the cache
	// (about 1 000 proofs a second) while others are quiet. Under a flood,
	// one key can take at most that half, and it takes 50 more keys, each
	// with a valid bound token (or, at a token endpoint, a valid grant),
	// sending at their quota to fill the rest, where one would do without
	// a quota.
	DefaultReplayKeyShare = 100
	// MinReplayKeyQuota is the least default quota of one key, so that a
	// small replay cache still lets each client send a proof a second
	// within the default window.
	MinReplayKeyQuota = 64
	// DefaultKeyCacheSize bounds the cache of client keys: 4 096 proof
	// headers, about 4 MiB.
	DefaultKeyCacheSize = 4096
)

// DefaultAlgorithms are the proof algorithms a checker accepts when
// Config.Algorithms is empty.
func DefaultAlgorithms() []jose.Algorithm {
	return []jose.Algorithm{jose.ES256, jose.ES384, jose.EdDSA, jose.RS256, jose.PS256}
}

// Proof is a proof that passed every check of [Checker.Check].
type Proof struct {
	// Key is the public key that signed the proof, from its "jwk" header.
	// It proves possession and nothing else: compare its thumbprint (JKT)
	// with the one a token is bound to. It may be shared with other proofs
	// of the same client and must not be modified.
	Key *jose.JWK
	// JKT is Key's RFC 7638 SHA-256 thumbprint, base64url: the value of a
	// bound token's "cnf.jkt" (RFC 9449 §6.1).
	JKT string
	// ID is the proof's "jti".
	ID string
	// IssuedAt is the proof's "iat".
	IssuedAt time.Time
	// Method is the proof's "htm", equal to the request's method.
	Method string
	// URL is the proof's "htu", normalized ([NormalizeURL]); equal to the
	// request's.
	URL string
	// Nonce is the proof's "nonce", or "" when it has none.
	Nonce string
	// ATH is the proof's "ath", the hash of the access token it came with,
	// or "" when it has none.
	ATH string
}

// Config configures a [Checker]. No zero value turns a check off.
type Config struct {
	// Algorithms is the allowlist of proof algorithms. Empty means
	// [DefaultAlgorithms] (ES256, ES384, EdDSA, RS256, PS256). Only
	// asymmetric algorithms may be listed: a proof is signed with the
	// client's private key and verified with the public key it carries.
	Algorithms []jose.Algorithm
	// Window is how far a proof's "iat" may lie from the clock, either
	// way. Zero means [DefaultWindow] (60 s); negative is an error.
	Window time.Duration
	// Leeway widens the window on both sides, for clocks known to be far
	// off. Zero means none; negative is an error.
	Leeway time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Nonces, when set, requires every proof to carry a nonce it made
	// (RFC 9449 §8): a proof without one, or with a stale one, fails with
	// [ErrUseNonce]. Nil means no nonce is required (one that a proof
	// carries anyway is ignored).
	Nonces *Nonces
	// MaxProofSize bounds a proof in bytes, checked before parsing. Zero
	// means [DefaultMaxProofSize]; negative is an error.
	MaxProofSize int
	// ReplayCacheSize bounds the replay cache, in proofs. Zero means
	// [DefaultReplayCacheSize]; it cannot be turned off. When it holds that
	// many proofs still inside the window, new proofs fail with
	// [ErrReplayCacheFull] until the oldest leave it: forgetting one would
	// let it be replayed.
	ReplayCacheSize int
	// ReplayKeyQuota bounds how many of the proofs in the replay cache may
	// be of one key (one "jkt") once the cache is half full: past it, that
	// key's new proofs fail with a [KeyQuotaError] ([ErrKeyQuota]) until
	// its oldest leave the window, while other keys' proofs are still
	// taken, so that one client cannot fill the cache for everyone. Zero means 1/[DefaultReplayKeyShare] of
	// ReplayCacheSize, at least [MinReplayKeyQuota] and at most
	// ReplayCacheSize; negative, or more than ReplayCacheSize, is an
	// error.
	ReplayKeyQuota int
	// KeyCacheSize bounds the cache of the keys of accepted proofs, keyed
	// by their exact header: a client sends the same header with every
	// proof, so its key is parsed, checked and hashed once, not on every
	// request. Only proofs that passed every check but the replay check
	// enter it. Zero means [DefaultKeyCacheSize]; negative turns it off.
	KeyCacheSize int
}

// Checker checks DPoP proofs (RFC 9449 §4.3) and remembers the ones it
// accepted for as long as they are inside the window, to refuse their
// replay. Its replay cache is in memory: several processes that check
// proofs for the same URLs each keep their own, so a proof accepted by one
// can be replayed once at each of the others within the window. It is safe
// for concurrent use.
type Checker struct {
	algs    jose.AlgorithmSet
	window  time.Duration // Window + Leeway
	now     func() time.Time
	nonces  *Nonces
	maxSize int
	replay  *replayCache
	keys    *lru.Cache[string, *knownKey] // nil when off
}

// knownKey is what the header of an accepted proof gave: its parsed form,
// the key and the key's thumbprint.
type knownKey struct {
	header jose.Header
	key    *jose.JWK
	jkt    string
}

// NewChecker validates cfg and returns a Checker.
func NewChecker(cfg Config) (*Checker, error) {
	algs := cfg.Algorithms
	if len(algs) == 0 {
		algs = DefaultAlgorithms()
	}
	for _, a := range algs {
		if a.Symmetric() {
			return nil, fmt.Errorf("dpop: Config.Algorithms: %s is symmetric; a proof is signed with the client's own key pair", a)
		}
	}
	set, err := jose.NewAlgorithmSet(algs...)
	if err != nil {
		return nil, fmt.Errorf("dpop: Config.Algorithms: %w", err)
	}
	if cfg.Window < 0 || cfg.Leeway < 0 || cfg.MaxProofSize < 0 || cfg.ReplayCacheSize < 0 || cfg.ReplayKeyQuota < 0 {
		return nil, errors.New("dpop: negative Config.Window, Leeway, MaxProofSize, ReplayCacheSize or ReplayKeyQuota")
	}
	c := &Checker{
		algs:    set,
		window:  cfg.Window,
		now:     cfg.Now,
		nonces:  cfg.Nonces,
		maxSize: cfg.MaxProofSize,
	}
	if c.window == 0 {
		c.window = DefaultWindow
	}
	c.window += cfg.Leeway
	if c.now == nil {
		c.now = time.Now
	}
	if c.maxSize == 0 {
		c.maxSize = DefaultMaxProofSize
	}
	size := cfg.ReplayCacheSize
	if size == 0 {
		size = DefaultReplayCacheSize
	}
	quota := cfg.ReplayKeyQuota
	switch {
	case quota == 0:
		quota = min(size, max(MinReplayKeyQuota, size/DefaultReplayKeyShare))
	case quota > size:
		return nil, fmt.Errorf("dpop: Config.ReplayKeyQuota %d is more than the replay cache's %d proofs", quota, size)
	}
	c.replay = newReplayCache(size, quota)
	switch n := cfg.KeyCacheSize; {
	case n == 0:
		c.keys, err = lru.New[string, *knownKey](DefaultKeyCacheSize)
	case n > 0:
		c.keys, err = lru.New[string, *knownKey](n)
	}
	if err != nil {
		return nil, fmt.Errorf("dpop: %w", err)
	}
	return c, nil
}

// Algorithms returns the allowlist, for the "algs" parameter of a DPoP
// challenge and for dpop_signing_alg_values_supported.
func (c *Checker) Algorithms() []jose.Algorithm { return c.algs.Algorithms() }

// Nonces returns Config.Nonces: nil when nonces are not required.
func (c *Checker) Nonces() *Nonces { return c.nonces }

// Check checks proof, the value of the request's one DPoP header
// ([FromRequest]), for a request of method to target, the URL the client
// addressed (its public URL, not one rewritten by a proxy), carrying
// accessToken, or "" for a request without one (a token request).
//
// It makes every check of RFC 9449 §4.3: a compact JWS of at most
// Config.MaxProofSize bytes with "typ" exactly "dpop+jwt", an allowlisted
// asymmetric "alg", a "jwk" that is a public key bound to that "alg", a
// valid signature by it, "htm" equal to method, "htu" equal to target (both
// normalized by [NormalizeURL], so no query or fragment), "iat" inside the
// window, a "jti", an "ath" equal to the hash of accessToken when there is
// one (without an access token, "ath" is not required and not read), a
// valid nonce when the checker requires nonces, and a "jti" not accepted
// before with the same key inside the window. It records the proof only
// when every other check has passed.
//
// Errors wrap [ErrInvalidProof] (with the precise reason; [ErrReplay] for
// a replay), [ErrUseNonce], [ErrReplayCacheFull] or [ErrKeyQuota] (a
// [KeyQuotaError]).
func (c *Checker) Check(proof, method string, target *url.URL, accessToken string) (*Proof, error) {
	return c.check(proof, method, target, accessToken, "")
}

// CheckBound is [Checker.Check] for a request whose token is bound to the
// key whose thumbprint is jkt (a token's "cnf.jkt", a refresh token's
// binding): a proof signed with another key fails with [ErrKeyMismatch]
// before it is recorded, so that proofs made with keys other than the
// bound one never fill the replay cache.
func (c *Checker) CheckBound(proof, method string, target *url.URL, accessToken, jkt string) (*Proof, error) {
	if jkt == "" {
		return nil, errors.New("dpop: CheckBound without a thumbprint")
	}
	return c.check(proof, method, target, accessToken, jkt)
}

// Verify is [Checker.Check] without the replay check: it makes every
// other check and records nothing. It is for a server that must first
// learn whether the request deserves to be remembered (an authorization
// server that checks the grant the proof came with), so that proofs sent
// with nothing valid never fill the replay cache. The caller must then
// call [Checker.Record] with the proof before it acts on the request, and
// refuse the request when Record fails: without it the proof can be
// replayed.
func (c *Checker) Verify(proof, method string, target *url.URL, accessToken string) (*Proof, error) {
	return c.verify(proof, method, target, accessToken, "")
}

// Record remembers p, a proof that [Checker.Verify] accepted, until its
// "iat" leaves the window. It fails with [ErrReplay] when the checker has
// accepted a proof with the same key and "jti" inside the window, and with
// [ErrReplayCacheFull] when the replay cache is full, and with a
// [KeyQuotaError] ([ErrKeyQuota]) when the proof's key holds
// Config.ReplayKeyQuota of the proofs in it.
func (c *Checker) Record(p *Proof) error {
	if p == nil || p.JKT == "" || p.ID == "" {
		return errors.New("dpop: Record of a proof that Verify did not return")
	}
	// The pair is remembered until the proof's iat leaves the window, at
	// which point the proof is refused as too old anyway.
	return c.replay.add(p.JKT, p.ID, c.now().UnixNano(), p.IssuedAt.Add(c.window).UnixNano())
}

func (c *Checker) check(proof, method string, target *url.URL, accessToken, jkt string) (*Proof, error) {
	p, err := c.verify(proof, method, target, accessToken, jkt)
	if err != nil {
		return nil, err
	}
	if err := c.Record(p); err != nil {
		return nil, err
	}
	return p, nil
}

func (c *Checker) verify(proof, method string, target *url.URL, accessToken, jkt string) (*Proof, error) {
	if proof == "" {
		return nil, invalid("empty proof")
	}
	var known *knownKey
	j, key, err := jose.ParseEmbeddedKnown(proof, c.maxSize, func(h64 string) (jose.Header, *jose.JWK, bool) {
		if c.keys == nil {
			return jose.Header{}, nil, false
		}
		k, ok := c.keys.Get(h64)
		if !ok {
			return jose.Header{}, nil, false
		}
		known = k
		return k.header, k.key, true
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidProof, err)
	}
	if j.Header.Type != ProofType {
		return nil, invalid("typ is %q, want %q", sanitize(j.Header.Type), ProofType)
	}
	if err := j.VerifyKey(key, c.algs); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidProof, err)
	}
	claims, err := jose.ParseClaims(j.UnsafePayload())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidProof, err)
	}
	p := &Proof{Key: key, ID: claims.ID, IssuedAt: claims.IssuedAt.Time()}
	for _, m := range []struct {
		name string
		dst  *string
	}{{"htm", &p.Method}, {"htu", &p.URL}, {"nonce", &p.Nonce}, {"ath", &p.ATH}} {
		v, ok := claims.Extra[m.name]
		if !ok {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return nil, invalid("%q is not a string", m.name)
		}
		*m.dst = s
	}
	if p.Method == "" {
		return nil, invalid("no htm")
	}
	if p.Method != method {
		return nil, invalid("htm is %q, the request's method %q", sanitize(p.Method), sanitize(method))
	}
	if p.URL == "" {
		return nil, invalid("no htu")
	}
	want, err := NormalizeURL(target)
	if err != nil {
		return nil, fmt.Errorf("dpop: the request's URL: %w", err)
	}
	// Most clients write htu in the normal form already; only another
	// form needs parsing.
	if p.URL != want {
		htu, err := normalizeHTU(p.URL)
		if err != nil {
			return nil, invalid("htu: %v", err)
		}
		if htu != want {
			return nil, invalid("htu is %q, the request's URL %q", sanitize(htu), sanitize(want))
		}
		p.URL = htu
	}
	if claims.IssuedAt == 0 {
		return nil, invalid("no iat")
	}
	now := c.now()
	iat := p.IssuedAt
	if d := now.Sub(iat); d > c.window || d < -c.window {
		return nil, invalid("iat is %s from now, outside the window of %s", d.Truncate(time.Second), c.window)
	}
	if p.ID == "" {
		return nil, invalid("no jti")
	}
	if accessToken != "" {
		if p.ATH == "" {
			return nil, invalid("no ath with an access token")
		}
		if !ATHMatches(p.ATH, accessToken) {
			return nil, invalid("ath is not the hash of the access token")
		}
	}
	if c.nonces != nil {
		if p.Nonce == "" {
			return nil, fmt.Errorf("%w: the proof has no nonce", ErrUseNonce)
		}
		if !c.nonces.Valid(p.Nonce) {
			return nil, fmt.Errorf("%w: the proof's nonce is stale or not one of ours", ErrUseNonce)
		}
	}
	if known != nil {
		p.JKT = known.jkt
	} else if p.JKT, err = key.Thumbprint(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidProof, err)
	}
	if jkt != "" && subtle.ConstantTimeCompare([]byte(p.JKT), []byte(jkt)) != 1 {
		return nil, ErrKeyMismatch
	}
	if known == nil && c.keys != nil {
		h64, _, _ := strings.Cut(proof, ".")
		c.keys.Add(strings.Clone(h64), &knownKey{header: j.Header, key: key, jkt: p.JKT})
	}
	return p, nil
}

// ATH returns the "ath" of a proof sent with accessToken: the unpadded
// base64url SHA-256 hash of its ASCII bytes (RFC 9449 §4.2).
func ATH(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ATHMatches reports whether ath is the hash of accessToken, in constant
// time.
func ATHMatches(ath, accessToken string) bool {
	sum := sha256.Sum256([]byte(accessToken))
	var want [43]byte // base64url of 32 bytes, unpadded
	base64.RawURLEncoding.Encode(want[:], sum[:])
	return len(ath) == len(want) && subtle.ConstantTimeCompare([]byte(ath), want[:]) == 1
}

// FromRequest returns the proof of r: the value of its one DPoP header.
// No header, or more than one (RFC 9449 §4.3 point 1), fails with
// [ErrNoProof], which wraps [ErrInvalidProof].
func FromRequest(r *http.Request) (string, error) {
	vals := r.Header.Values(Header)
	switch len(vals) {
	case 0:
		return "", ErrNoProof
	case 1:
		return vals[0], nil
	}
	return "", fmt.Errorf("%w: %d of them", ErrNoProof, len(vals))
}

// sanitize bounds attacker-supplied text quoted in an error.
func sanitize(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return s
}
