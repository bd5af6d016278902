package verifier

import (
	"errors"
	"fmt"
	"slices"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/keyward/keyward/jose"
)

// ErrUnknownIssuer reports a token whose "iss" names none of the issuers of
// a multi-issuer [Verifier] ([NewMulti]), or that has no "iss". It wraps
// [jose.ErrIssuer], so [Reason] names it "issuer" and the answer is 401
// invalid_token. It is returned before any key is looked up or fetched.
var ErrUnknownIssuer = fmt.Errorf("%w: no configured issuer for this iss", jose.ErrIssuer)

// Issuer is one issuer of a multi-issuer [Verifier]: a name and the
// policy its tokens are checked against.
type Issuer struct {
	// Name names the issuer in policies ([FromIssuer]), metrics and logs:
	// 1 to 64 characters of a-z, 0-9, "-" and "_", unique among the
	// issuers. It is configuration, never taken from a token, so that a
	// metric labelled with it has a bounded set of values.
	Name string
	// Config is the issuer's policy and key source, as for [New]. Its
	// Issuers must list the exact "iss" values of this issuer's tokens
	// (InsecureSkipIssuerCheck is refused): they route tokens to it, and
	// no two issuers may share one. Its Observer, when set, is told the
	// outcome of every verification of a token routed to this issuer,
	// cache hits included. Its CacheSize, MaxTokenSize and Now are not
	// used: the multi-issuer Verifier's own apply.
	Config Config
}

// MultiConfig configures a multi-issuer [Verifier] ([NewMulti]). Each field
// documents its zero value; no zero value turns a check off.
type MultiConfig struct {
	// Issuers are the accepted issuers. At least one is required.
	Issuers []Issuer
	// MaxTokenSize is the largest token accepted, checked before its "iss"
	// is read. Zero means jose.DefaultMaxTokenSize (16 KiB).
	MaxTokenSize int
	// CacheSize bounds the cache of verified tokens shared by the issuers,
	// in entries. Zero means DefaultCacheSize (10 000); negative turns the
	// cache off.
	CacheSize int
	// Observer, when set, is told the outcome of every verification and
	// cache lookup, whatever the issuer, as for a single issuer's
	// Verifier. Nil means none.
	Observer Observer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// multi routes the tokens of a multi-issuer Verifier to its issuers.
type multi struct {
	index map[string]int // "iss" value → the issuer's position in order
	isss  []issPos       // the same, for a scan when there are few
	order []string       // names, in the order of the configuration
	subs  []*Verifier    // the issuers' verifiers, in the same order
}

// issPos is an "iss" value and the position of its issuer.
type issPos struct {
	iss string
	pos int
}

// scanIssuers is the largest number of "iss" values that issuerIndex
// compares one by one: fewer than a map lookup costs, since comparing two
// strings of different lengths costs next to nothing.
const scanIssuers = 8

// issuerIndex returns the position in order of the issuer that lists iss,
// or -1.
func (m *multi) issuerIndex(iss string) int {
	if len(m.isss) <= scanIssuers {
		for i := range m.isss {
			if m.isss[i].iss == iss {
				return m.isss[i].pos
			}
		}
		return -1
	}
	if pos, ok := m.index[iss]; ok {
		return pos
	}
	return -1
}

// NewMulti validates cfg and returns a Verifier over several issuers, usable
// wherever a single issuer's Verifier is ([Middleware], the gate).
//
// A token is routed by its "iss", read by jose's strict parser after the
// size check but before anything is verified, to the one issuer that lists
// that value; it is then verified completely under that issuer's policy and
// keys, and only those: the key sets of the other issuers are never asked,
// so one issuer's keys can never verify a token that names another. A
// token whose "iss" no issuer lists is refused with [ErrUnknownIssuer]
// before any key lookup, so it never causes a fetch.
//
// Errors of a routed token are prefixed with the issuer's name, for logs;
// [IssuerName] gives the name of a verified token's issuer.
func NewMulti(cfg MultiConfig) (*Verifier, error) {
	if len(cfg.Issuers) == 0 {
		return nil, errors.New("verifier: MultiConfig.Issuers is empty")
	}
	if cfg.MaxTokenSize < 0 {
		return nil, fmt.Errorf("verifier: negative MultiConfig.MaxTokenSize")
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	m := &multi{index: map[string]int{}}
	var isss, auds []string
	var algs []jose.Algorithm
	for _, is := range cfg.Issuers {
		if err := CheckIssuerName(is.Name); err != nil {
			return nil, err
		}
		if slices.Contains(m.order, is.Name) {
			return nil, fmt.Errorf("verifier: issuer name %q given twice", is.Name)
		}
		if len(is.Config.Issuers) == 0 {
			return nil, fmt.Errorf("verifier: issuer %s: Config.Issuers must list its iss values", is.Name)
		}
		c := is.Config
		c.InsecureSkipIssuerCheck = false
		c.CacheSize = -1
		c.MaxTokenSize = cfg.MaxTokenSize
		c.Now = now
		sub, err := New(c)
		if err != nil {
			return nil, fmt.Errorf("verifier: issuer %s: %w", is.Name, err)
		}
		for _, iss := range c.Issuers {
			if other, dup := m.index[iss]; dup {
				return nil, fmt.Errorf("verifier: issuers %s and %s both list iss %q", m.order[other], is.Name, iss)
			}
			m.index[iss] = len(m.order)
			m.isss = append(m.isss, issPos{iss: iss, pos: len(m.order)})
		}
		m.order = append(m.order, is.Name)
		m.subs = append(m.subs, sub)
		isss = append(isss, c.Issuers...)
		auds = append(auds, c.Audiences...)
		algs = append(algs, sub.Algorithms()...)
	}
	slices.Sort(algs)
	set, err := jose.NewAlgorithmSet(slices.Compact(algs)...)
	if err != nil {
		return nil, fmt.Errorf("verifier: %w", err)
	}
	slices.Sort(auds)
	v := &Verifier{
		keys:    StaticKeys(&jose.JWKS{}), // never asked: every token goes to an issuer's verifier
		algs:    set,
		maxSize: cfg.MaxTokenSize,
		now:     now,
		obs:     cfg.Observer,
		multi:   m,
		policy:  jose.Policy{Issuers: isss, Audiences: slices.Compact(auds), Now: now},
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

// CheckIssuerName reports whether name is a valid [Issuer] name: 1 to 64
// characters of a-z, 0-9, "-" and "_".
func CheckIssuerName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("verifier: issuer name %q: want 1 to 64 characters", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("verifier: issuer name %q: only a-z, 0-9, - and _ are allowed", name)
		}
	}
	return nil
}

// route reads the unverified "iss" of token and returns the verifier and the
// name of the issuer that lists it.
func (m *multi) route(token string, maxSize int) (*Verifier, string, error) {
	jws, err := jose.ParseLimit(token, maxSize)
	if err != nil {
		return nil, "", err
	}
	c, err := jose.ParseClaims(jws.UnsafePayload())
	if err != nil {
		return nil, "", err
	}
	i := m.issuerIndex(c.Issuer)
	if i < 0 {
		return nil, "", ErrUnknownIssuer
	}
	return m.subs[i], m.order[i], nil
}

// IssuerName returns the configured name of the issuer of claims that v
// verified: for a multi-issuer Verifier the name of the issuer that lists
// claims.Issuer, for a single issuer's Verifier "" when it accepts
// claims.Issuer; false when v accepts no such issuer. It never allocates,
// so it may be called for every request.
func (v *Verifier) IssuerName(claims *jose.Claims) (string, bool) {
	if v.multi == nil {
		return "", slices.Contains(v.policy.Issuers, claims.Issuer)
	}
	if i := v.multi.issuerIndex(claims.Issuer); i >= 0 {
		return v.multi.order[i], true
	}
	return "", false
}

// IssuerIndex returns the position in [Verifier.IssuerNames] of the issuer
// of claims that v, a multi-issuer Verifier, verified: that of the issuer
// that lists claims.Issuer; -1 when none does, and always for a single
// issuer's Verifier. It never allocates, so that a caller keeping
// something per issuer for every request (a counter) may keep it in a
// slice in the order of IssuerNames and find it with this rather than by
// name.
func (v *Verifier) IssuerIndex(claims *jose.Claims) int {
	if v.multi == nil {
		return -1
	}
	return v.multi.issuerIndex(claims.Issuer)
}

// IssuerNames returns the names of the issuers of a multi-issuer Verifier,
// in the order of its configuration; nil for a single issuer's.
func (v *Verifier) IssuerNames() []string {
	if v.multi == nil {
		return nil
	}
	return slices.Clone(v.multi.order)
}

// IssuerVerifier returns the Verifier of the issuer named name in a
// multi-issuer Verifier, for its Issuers, Audiences and Algorithms; false
// when there is none.
func (v *Verifier) IssuerVerifier(name string) (*Verifier, bool) {
	if v.multi == nil {
		return nil, false
	}
	i := slices.Index(v.multi.order, name)
	if i < 0 {
		return nil, false
	}
	return v.multi.subs[i], true
}
