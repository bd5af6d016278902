package jwks

import (
	"context"
	"crypto"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/jose"
)

// Defaults of [Config].
const (
	DefaultMinTTL          = time.Minute
	DefaultMaxTTL          = 24 * time.Hour
	DefaultTTL             = 15 * time.Minute
	DefaultRefreshCooldown = 10 * time.Second
	DefaultMaxStale        = 24 * time.Hour
)

// maxNegative bounds the negative cache of unknown key IDs.
const maxNegative = 4096

// Config configures a [Set]. Each zero value means the documented default.
type Config struct {
	// URL is the JWK Set's URL. When empty, Issuer is required and the URL
	// is discovered from its metadata ([Discover]) before the first fetch,
	// and again after a failed one.
	URL string
	// Issuer is the issuer whose metadata names the JWK Set; used only when
	// URL is empty.
	Issuer string
	// Client makes the requests. Nil means [NewClient]; never pass
	// http.DefaultClient, which has no timeout.
	Client *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// MinTTL and MaxTTL clamp the lifetime a response announces with
	// Cache-Control max-age; zero means 1 minute and 24 hours. A response
	// with no-store or no-cache gets MinTTL.
	MinTTL, MaxTTL time.Duration
	// DefaultTTL is the lifetime of a response without max-age; zero means
	// 15 minutes.
	DefaultTTL time.Duration
	// RefreshCooldown is the least time between two fetches started on
	// demand (an unknown key ID, an expired set); zero means 10 seconds.
	// Background refreshes by [Set.Run] happen at most once per MinTTL and
	// back off from RefreshCooldown after a failure.
	RefreshCooldown time.Duration
	// NegativeTTL is how long a key ID that a fetch did not find is answered
	// "not found" without another look, unless the set changes meanwhile;
	// zero means RefreshCooldown.
	NegativeTTL time.Duration
	// MaxStale is how long after its last successful fetch (or
	// revalidation) a set is still served while refreshes fail; after it,
	// lookups fail closed with [ErrUnavailable]. Zero means 24 hours.
	MaxStale time.Duration
	// FetchTimeout bounds one refresh, discovery included; zero means
	// [DefaultFetchTimeout] (5 s).
	FetchTimeout time.Duration
	// MaxBodySize bounds each response body; zero means
	// [DefaultMaxBodySize] (1 MiB).
	MaxBodySize int64
	// Observer, when set, is told the result of every fetch, for metrics.
	// Nil means none.
	Observer Observer
}

// Observer receives the events of a [Set], typically to count them as
// metrics. Its methods must be safe for concurrent use.
type Observer interface {
	// Fetched reports one fetch (discovery included) by result: "ok" for
	// a new set, "not_modified" for a revalidation, "error" for a failure.
	Fetched(result string)
}

// Set is a cached remote JWK Set, safe for concurrent use. Create it with
// [New], start [Set.Run] in a goroutine for background refreshes, and look
// keys up with [Set.Keys].
//
// The lookup of a known key ID in a fresh set takes no lock and allocates
// nothing: the current set is an immutable snapshot behind an atomic
// pointer, replaced as a whole by each successful fetch.
type Set struct {
	cfg  Config
	now  func() time.Time
	cur  atomic.Pointer[snapshot]
	next atomic.Int64 // unix nanoseconds before which no on-demand fetch starts

	fetches atomic.Uint64

	mu          sync.Mutex // guards the fields below
	jwksURL     string     // resolved URL; empty until discovered
	inflight    *flight
	lastAttempt time.Time
	lastErr     error
	lastErrAt   time.Time
	negative    map[string]negEntry
}

// snapshot is one immutable state of the set.
type snapshot struct {
	set     *jose.JWKS
	gen     uint64
	fetched time.Time // last successful fetch or revalidation
	expires time.Time // when the set stops being fresh
	etag    string
	url     string
}

// flight is one fetch shared by every caller that waits for it.
type flight struct {
	done chan struct{}
	err  error
}

type negEntry struct {
	gen   uint64
	until time.Time
}

// New validates cfg and returns a Set that holds no keys yet: the first
// [Set.Keys] call, or [Set.Run], fetches them. New does no I/O.
func New(cfg Config) (*Set, error) {
	if cfg.URL == "" && cfg.Issuer == "" {
		return nil, fmt.Errorf("jwks: Config needs a URL or an Issuer")
	}
	for _, u := range []string{cfg.URL, cfg.Issuer} {
		if u == "" {
			continue
		}
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return nil, fmt.Errorf("jwks: %q is not an absolute http(s) URL", u)
		}
	}
	if cfg.Client == nil {
		cfg.Client = NewClient()
	}
	defaults := []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&cfg.MinTTL, DefaultMinTTL},
		{&cfg.MaxTTL, DefaultMaxTTL},
		{&cfg.DefaultTTL, DefaultTTL},
		{&cfg.RefreshCooldown, DefaultRefreshCooldown},
		{&cfg.MaxStale, DefaultMaxStale},
		{&cfg.FetchTimeout, DefaultFetchTimeout},
	}
	for _, d := range defaults {
		if *d.v < 0 {
			return nil, fmt.Errorf("jwks: negative duration in Config")
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if cfg.NegativeTTL <= 0 {
		cfg.NegativeTTL = cfg.RefreshCooldown
	}
	if cfg.MaxBodySize <= 0 {
		cfg.MaxBodySize = DefaultMaxBodySize
	}
	if cfg.MinTTL > cfg.MaxTTL {
		return nil, fmt.Errorf("jwks: MinTTL %s is over MaxTTL %s", cfg.MinTTL, cfg.MaxTTL)
	}
	cfg.DefaultTTL = min(max(cfg.DefaultTTL, cfg.MinTTL), cfg.MaxTTL)
	s := &Set{cfg: cfg, now: cfg.Now, jwksURL: cfg.URL, negative: make(map[string]negEntry)}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// Keys returns a key set that holds kid's keys when the source has them, for
// [jose.JWS.Verify]; the caller must not modify it. It is the method a
// verifier calls for every token.
//
// A known kid in a usable set is answered at once; if the set has expired, a
// refresh starts in the background and the caller does not wait for it. An
// unknown kid starts one refresh, shared by every concurrent caller and at
// most one per RefreshCooldown, and the caller waits for that one fetch (or
// for ctx); a kid that a fetch did not find is then answered from a negative
// cache. A kid still unknown is not an error: the returned set simply lacks
// it, and verification fails with [jose.ErrKeyNotFound].
//
// The error is non-nil only when no usable set exists (never fetched, or
// older than MaxStale): it wraps [ErrUnavailable] and the last fetch error.
func (s *Set) Keys(ctx context.Context, kid string) (jose.KeySet, error) {
	now := s.now()
	if snap := s.cur.Load(); s.usable(snap, now) {
		if kid == "" || len(snap.set.Lookup(kid)) > 0 {
			if !now.Before(snap.expires) {
				s.refreshAsync(now)
			}
			return snap.set, nil
		}
		return s.missing(ctx, kid, snap, now)
	}
	return s.recover(ctx, now)
}

func (s *Set) usable(snap *snapshot, now time.Time) bool {
	return snap != nil && now.Sub(snap.fetched) <= s.cfg.MaxStale
}

// missing handles a kid that the usable snapshot snap does not hold.
func (s *Set) missing(ctx context.Context, kid string, snap *snapshot, now time.Time) (jose.KeySet, error) {
	s.mu.Lock()
	if e, ok := s.negative[kid]; ok && e.gen == snap.gen && now.Before(e.until) {
		s.mu.Unlock()
		return snap.set, nil
	}
	f := s.joinLocked(now, false)
	s.mu.Unlock()
	if f != nil {
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	now = s.now()
	cur := s.cur.Load()
	if !s.usable(cur, now) {
		return nil, s.unavailableError(now)
	}
	if len(cur.set.Lookup(kid)) == 0 {
		s.mu.Lock()
		s.addNegativeLocked(kid, cur.gen, now)
		s.mu.Unlock()
	}
	return cur.set, nil
}

// recover handles the lack of a usable snapshot: it waits for a fetch when
// one may run, and fails closed otherwise.
func (s *Set) recover(ctx context.Context, now time.Time) (jose.KeySet, error) {
	s.mu.Lock()
	f := s.joinLocked(now, false)
	s.mu.Unlock()
	if f != nil {
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	now = s.now()
	if cur := s.cur.Load(); s.usable(cur, now) {
		return cur.set, nil
	}
	return nil, s.unavailableError(now)
}

// joinLocked returns the fetch in flight, or starts one when force is set or
// the cooldown allows it; nil means there is nothing to wait for.
func (s *Set) joinLocked(now time.Time, force bool) *flight {
	if s.inflight != nil {
		return s.inflight
	}
	if !force && !s.lastAttempt.IsZero() && now.Sub(s.lastAttempt) < s.cfg.RefreshCooldown {
		return nil
	}
	f := &flight{done: make(chan struct{})}
	s.inflight = f
	s.lastAttempt = now
	s.next.Store(now.Add(s.cfg.RefreshCooldown).UnixNano())
	go s.fetch(f)
	return f
}

// refreshAsync starts a background refresh of an expired set, at most once
// per cooldown, without waiting for it.
func (s *Set) refreshAsync(now time.Time) {
	if now.UnixNano() < s.next.Load() {
		return
	}
	s.mu.Lock()
	s.joinLocked(now, false)
	s.mu.Unlock()
}

// Refresh fetches the set now, whatever its age and the cooldown, or joins
// the fetch in flight, and waits for it. The fetch runs on its own context
// bounded by FetchTimeout: ctx only bounds the wait.
func (s *Set) Refresh(ctx context.Context) error {
	s.mu.Lock()
	f := s.joinLocked(s.now(), true)
	s.mu.Unlock()
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fetch runs one shared fetch and publishes its outcome.
func (s *Set) fetch(f *flight) {
	s.fetches.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.FetchTimeout)
	defer cancel()
	opt := fetchOptions{timeout: s.cfg.FetchTimeout, maxBody: s.cfg.MaxBodySize}
	old := s.cur.Load()

	s.mu.Lock()
	u := s.jwksURL
	s.mu.Unlock()
	var err error
	if u == "" {
		u, err = discover(ctx, s.cfg.Client, s.cfg.Issuer, opt)
	}
	var res *fetchResult
	if err == nil {
		if old != nil && old.url == u {
			opt.etag = old.etag
		}
		res, err = fetch(ctx, s.cfg.Client, u, opt)
	}
	now := s.now()
	if err == nil && res.notModified && old == nil {
		err = fmt.Errorf("%w: GET %s: 304 Not Modified for a set never fetched", ErrFetch, u)
	}
	if err == nil {
		s.cur.Store(s.nextSnapshot(old, res, u, now))
	}

	s.mu.Lock()
	if err != nil {
		s.lastErr, s.lastErrAt = err, now
		if s.cfg.URL == "" {
			s.jwksURL = "" // discover again next time
		}
	} else {
		s.jwksURL = u
		s.lastErr, s.lastErrAt = nil, time.Time{}
	}
	s.inflight = nil
	f.err = err
	s.mu.Unlock()
	if o := s.cfg.Observer; o != nil {
		switch {
		case err != nil:
			o.Fetched("error")
		case res.notModified:
			o.Fetched("not_modified")
		default:
			o.Fetched("ok")
		}
	}
	close(f.done)
}

// nextSnapshot builds the state that follows a successful exchange. Keys
// that did not change keep their *jose.JWK, so that whoever remembers a key
// by pointer (a verified-token cache) still finds it; the generation moves
// only when the set changes.
func (s *Set) nextSnapshot(old *snapshot, res *fetchResult, u string, now time.Time) *snapshot {
	ttl := s.cfg.DefaultTTL
	switch {
	case res.noStore:
		ttl = s.cfg.MinTTL
	case res.hasMaxAge:
		ttl = min(max(res.maxAge, s.cfg.MinTTL), s.cfg.MaxTTL)
	}
	next := &snapshot{fetched: now, expires: now.Add(ttl), etag: res.etag, url: u}
	if res.notModified {
		next.set, next.gen = old.set, old.gen
		return next
	}
	if old == nil {
		next.set, next.gen = res.set, 1
		return next
	}
	changed := len(res.set.Keys) != len(old.set.Keys)
	for i, k := range res.set.Keys {
		if j := sameKey(old.set.Keys, k); j >= 0 {
			res.set.Keys[i] = old.set.Keys[j]
			changed = changed || i != j
		} else {
			changed = true
		}
	}
	next.set, next.gen = res.set, old.gen
	if changed {
		next.gen++
	}
	return next
}

// sameKey returns the index in keys of a key equal to k in every respect a
// verifier uses, or -1.
func sameKey(keys []*jose.JWK, k *jose.JWK) int {
	pk, ok := k.Key.(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return -1
	}
	for i, o := range keys {
		if o.KeyID == k.KeyID && o.Algorithm == k.Algorithm && o.Use == k.Use && pk.Equal(o.Key) {
			return i
		}
	}
	return -1
}

func (s *Set) addNegativeLocked(kid string, gen uint64, now time.Time) {
	if len(s.negative) >= maxNegative {
		for k, e := range s.negative {
			if e.gen != gen || !now.Before(e.until) {
				delete(s.negative, k)
			}
		}
		if len(s.negative) >= maxNegative {
			clear(s.negative)
		}
	}
	s.negative[kid] = negEntry{gen: gen, until: now.Add(s.cfg.NegativeTTL)}
}

// unavailableError explains why no usable set exists.
func (s *Set) unavailableError(now time.Time) error {
	s.mu.Lock()
	lastErr := s.lastErr
	s.mu.Unlock()
	why := "no key set fetched yet"
	if snap := s.cur.Load(); snap != nil {
		why = fmt.Sprintf("the last good key set is %s old (limit %s)", now.Sub(snap.fetched).Truncate(time.Second), s.cfg.MaxStale)
	}
	if lastErr != nil {
		return fmt.Errorf("%w: %s; last fetch: %w", ErrUnavailable, why, lastErr)
	}
	return fmt.Errorf("%w: %s", ErrUnavailable, why)
}

// Ready reports whether the set can serve keys now: nil, or an error
// wrapping [ErrUnavailable]. It does no I/O.
func (s *Set) Ready() error {
	now := s.now()
	if s.usable(s.cur.Load(), now) {
		return nil
	}
	return s.unavailableError(now)
}

// Run refreshes the set in the background until ctx ends: first at once,
// then when about four fifths of each set's lifetime have passed, so that
// callers never wait on the refresh of a set they already hold. After a
// failed fetch it retries with exponential backoff from RefreshCooldown up
// to MinTTL (at least one cooldown). Run the loop once per Set.
func (s *Set) Run(ctx context.Context) {
	backoff := time.Duration(0)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		now := s.now()
		wait := s.untilRefresh(now)
		if wait <= 0 {
			if err := s.Refresh(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				backoff = min(max(2*backoff, s.cfg.RefreshCooldown), max(s.cfg.MinTTL, s.cfg.RefreshCooldown))
				wait = backoff
			} else {
				backoff = 0
				wait = s.untilRefresh(s.now())
			}
		}
		timer.Reset(max(wait, 10*time.Millisecond))
	}
}

// untilRefresh is the time left before the background refresh is due.
func (s *Set) untilRefresh(now time.Time) time.Duration {
	snap := s.cur.Load()
	if snap == nil {
		return 0
	}
	life := snap.expires.Sub(snap.fetched)
	return snap.fetched.Add(life - life/5).Sub(now)
}

// Status is a point-in-time view of a [Set] for logs, health checks and
// metrics. It holds no key material.
type Status struct {
	// URL is the JWK Set URL in use; empty while discovery has not
	// succeeded.
	URL string
	// KeyIDs are the key IDs of the current set, in order.
	KeyIDs []string
	// Skipped lists the members of the current set that were left out, with
	// the reason (use "enc", unsupported key types, invalid keys).
	Skipped []jose.SkippedKey
	// Generation counts the changes of the set's content; 0 before the
	// first successful fetch.
	Generation uint64
	// Fetched is the time of the last successful fetch or revalidation;
	// zero if none.
	Fetched time.Time
	// Expires is when the current set stops being fresh.
	Expires time.Time
	// LastError is the error of the last fetch when it failed, else nil;
	// LastErrorAt is when.
	LastError   error
	LastErrorAt time.Time
	// Fetches counts the fetches started, discovery included.
	Fetches uint64
}

// Status returns the set's state.
func (s *Set) Status() Status {
	s.mu.Lock()
	st := Status{URL: s.jwksURL, LastError: s.lastErr, LastErrorAt: s.lastErrAt}
	s.mu.Unlock()
	st.Fetches = s.fetches.Load()
	if snap := s.cur.Load(); snap != nil {
		st.KeyIDs = snap.set.KeyIDs()
		st.Skipped = append([]jose.SkippedKey(nil), snap.set.Skipped...)
		st.Generation = snap.gen
		st.Fetched, st.Expires = snap.fetched, snap.expires
	}
	return st
}
