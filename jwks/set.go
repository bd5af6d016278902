package jwks

import (
	"context"
	"crypto"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/jose"
)

// Defaults of [Config].
const (
	DefaultMinTTL   = time.Minute
	DefaultMaxTTL   = 24 * time.Hour
	DefaultTTL      = 15 * time.Minute
	DefaultMaxStale = 24 * time.Hour
	// DefaultUnknownKIDBurst and DefaultUnknownKIDRefill shape the token
	// bucket of fetches started by unknown key IDs: 3 at once, then one
	// per 10 s, so at most 3 + W/10s fetches in any window W (9 in a
	// minute, 6 a minute sustained), whatever the flood of key IDs.
	DefaultUnknownKIDBurst  = 3
	DefaultUnknownKIDRefill = 10 * time.Second
	// DefaultRetryInterval is the most time between two attempts while the
	// Set has no usable key set.
	DefaultRetryInterval = time.Second
	// DefaultMaxBackoff caps the backoff of the refresh of a set that is
	// still usable.
	DefaultMaxBackoff = 5 * time.Second

	// DefaultRefreshCooldown is the former name of DefaultUnknownKIDRefill.
	//
	// Deprecated: use [DefaultUnknownKIDRefill].
	DefaultRefreshCooldown = DefaultUnknownKIDRefill
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
	// http.DefaultClient, which has no timeout. Whatever the client, a
	// redirect to another scheme or host is not followed.
	Client *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand jitters the retry and backoff delays, so that many verifiers do
	// not retry in step; nil means math/rand/v2's global source. It is only
	// used with the Set's lock held.
	Rand rand.Source

	// MinTTL and MaxTTL clamp the lifetime a response announces with
	// Cache-Control max-age; zero means 1 minute and 24 hours. A response
	// with no-store or no-cache gets MinTTL.
	MinTTL, MaxTTL time.Duration
	// DefaultTTL is the lifetime of a response without max-age; zero means
	// 15 minutes.
	DefaultTTL time.Duration

	// UnknownKIDBurst and UnknownKIDRefill shape the token bucket that
	// bounds the fetches started by lookups of a key ID the usable set
	// lacks: the bucket holds UnknownKIDBurst fetches and regains one every
	// UnknownKIDRefill, so a flood of made-up key IDs costs at most
	// UnknownKIDBurst + W/UnknownKIDRefill fetches in any window W. Zero
	// means 3 and 10 s: at most 9 fetches a minute, 6 a minute sustained.
	// Scheduled, recovery and manual fetches take nothing from the bucket,
	// so a key published just after a scheduled fetch is still fetched by
	// the first request that carries it.
	UnknownKIDBurst  int
	UnknownKIDRefill time.Duration
	// RefreshCooldown is the former name of UnknownKIDRefill: when
	// UnknownKIDRefill is zero, a non-zero RefreshCooldown is used for it.
	//
	// Deprecated: set UnknownKIDRefill (and UnknownKIDBurst).
	RefreshCooldown time.Duration
	// NegativeTTL is how long a key ID that a fetch did not find is answered
	// "not found" without another look, unless the set changes meanwhile;
	// zero means UnknownKIDRefill.
	NegativeTTL time.Duration
	// RetryInterval is the most time between two fetch attempts while the
	// Set has no usable key set (never fetched, or past MaxStale); each
	// delay is jittered between half of it and all of it, and attempts
	// start on that cadence even while an earlier one still waits on a
	// slow source (so at most FetchTimeout/(RetryInterval/2) run at once).
	// It is also where the backoff of a failing refresh of a usable set
	// starts. Zero means 1 s.
	RetryInterval time.Duration
	// MaxBackoff caps the backoff, doubling from RetryInterval, between the
	// failed refreshes of a set that is still usable (expired, or about to
	// be); zero means 5 s. It is at least RetryInterval.
	MaxBackoff time.Duration
	// MaxStale is how long after its last successful fetch (or
	// revalidation) a set is still served while refreshes fail; after it,
	// lookups fail closed with [ErrUnavailable]. Zero means 24 hours.
	MaxStale time.Duration
	// FetchTimeout bounds one refresh, discovery included, and so the
	// longest a lookup waits; zero means [DefaultFetchTimeout] (5 s).
	FetchTimeout time.Duration
	// MaxBodySize bounds each response body; zero means
	// [DefaultMaxBodySize] (1 MiB).
	MaxBodySize int64
	// Observer, when set, is told of every fetch, change and outage, for
	// metrics and logs. Nil means none.
	Observer Observer
}

// Trigger says why a fetch of a [Set] started.
type Trigger string

// The triggers of a fetch.
const (
	// TriggerScheduled is [Set.Run] refreshing a set before it expires, or
	// an expired set refreshed in the background.
	TriggerScheduled Trigger = "scheduled"
	// TriggerUnknownKID is a lookup of a key ID the usable set lacks.
	TriggerUnknownKID Trigger = "unknown_kid"
	// TriggerRecovery is an attempt while no usable set exists (never
	// fetched, or past MaxStale).
	TriggerRecovery Trigger = "recovery"
	// TriggerManual is [Set.Refresh].
	TriggerManual Trigger = "manual"
)

// Results of a fetch, as [Observer.Fetched] reports them.
const (
	ResultOK          = "ok"
	ResultNotModified = "not_modified"
	ResultError       = "error"
)

// Observer receives a [Set]'s events (metrics, logs). Its methods must be
// safe for concurrent use and must not block; they are called one at a
// time per Set, in the order of the events, never with the Set's lock held,
// so they may call [Set.Status] or [Set.Ready].
type Observer interface {
	// Fetched reports one finished fetch (discovery included): why it
	// started and its result, "ok" (a new or changed set), "not_modified"
	// (revalidated) or "error" (err is then non-nil).
	Fetched(trigger Trigger, result string, err error)
	// Changed reports that a fetch brought a set whose content differs from
	// the one held (or the first set); st is the new Status.
	Changed(st Status)
	// Unusable reports that the Set has no usable key set any more (the
	// first fetch failed, or the held set passed MaxStale); err wraps
	// ErrUnavailable. Called once per outage.
	Unusable(err error)
	// Recovered reports that a usable set exists again after an outage
	// that lasted outage. Called once per outage.
	Recovered(outage time.Duration)
}

// Set is a cached remote JWK Set, safe for concurrent use. Create it with
// [New], start [Set.Run] in a goroutine for background refreshes, and look
// keys up with [Set.Keys].
//
// The lookup of a known key ID in a fresh set takes no lock and allocates
// nothing: the current set is an immutable snapshot behind an atomic
// pointer, replaced as a whole by each successful fetch.
type Set struct {
	cfg Config
	now func() time.Time
	cur atomic.Pointer[snapshot]
	// schedNext holds unix nanoseconds before which no background refresh
	// of an expired set starts: while a fetch runs, and during a backoff.
	schedNext atomic.Int64

	fetches atomic.Uint64

	mu          sync.Mutex // guards the fields below
	jwksURL     string     // resolved URL; empty until discovered
	inflight    *flight    // the newest fetch in flight
	wake        chan struct{}
	nextAttempt time.Time     // while no usable set: when the next attempt may start
	backoff     time.Duration // of the refresh of a usable set after failures
	bucketTAT   time.Time     // the unknown-kid bucket's theoretical arrival time
	lastErr     error
	lastErrAt   time.Time
	negative    map[string]negEntry
	outage      bool
	outageStart time.Time
	events      []func(Observer)
	draining    bool
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
	done    chan struct{}
	err     error
	start   time.Time
	trigger Trigger
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
	if cfg.UnknownKIDRefill == 0 {
		cfg.UnknownKIDRefill = cfg.RefreshCooldown
	}
	defaults := []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&cfg.MinTTL, DefaultMinTTL},
		{&cfg.MaxTTL, DefaultMaxTTL},
		{&cfg.DefaultTTL, DefaultTTL},
		{&cfg.UnknownKIDRefill, DefaultUnknownKIDRefill},
		{&cfg.RetryInterval, DefaultRetryInterval},
		{&cfg.MaxBackoff, DefaultMaxBackoff},
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
	switch {
	case cfg.UnknownKIDBurst < 0:
		return nil, fmt.Errorf("jwks: negative UnknownKIDBurst")
	case cfg.UnknownKIDBurst == 0:
		cfg.UnknownKIDBurst = DefaultUnknownKIDBurst
	}
	if cfg.NegativeTTL <= 0 {
		cfg.NegativeTTL = cfg.UnknownKIDRefill
	}
	if cfg.MaxBodySize <= 0 {
		cfg.MaxBodySize = DefaultMaxBodySize
	}
	if cfg.MinTTL > cfg.MaxTTL {
		return nil, fmt.Errorf("jwks: MinTTL %s is over MaxTTL %s", cfg.MinTTL, cfg.MaxTTL)
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.RetryInterval)
	cfg.DefaultTTL = min(max(cfg.DefaultTTL, cfg.MinTTL), cfg.MaxTTL)
	s := &Set{cfg: cfg, now: cfg.Now, jwksURL: cfg.URL, negative: make(map[string]negEntry), wake: make(chan struct{})}
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
// unknown kid starts one fetch when the unknown-kid token bucket allows it
// (UnknownKIDBurst, UnknownKIDRefill), shared by every concurrent caller, and
// the caller waits for that one fetch (or for ctx); a kid that a fetch did
// not find is then answered from a negative cache. A kid still unknown is not
// an error: the returned set simply lacks it, and verification fails with
// [jose.ErrKeyNotFound].
//
// The error is non-nil only when no usable set exists (never fetched, or
// older than MaxStale), or ctx ended: it is then an [*UnavailableError]
// wrapping [ErrUnavailable] and the last fetch error. While no usable set
// exists, a call that finds an attempt due starts it and waits for it, and
// one that finds an attempt in flight waits for it, so no call waits longer
// than one FetchTimeout.
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
func (s *Set) missing(ctx context.Context, kid string, snap *snapshot, arrived time.Time) (jose.KeySet, error) {
	s.mu.Lock()
	if e, ok := s.negative[kid]; ok && e.gen == snap.gen && arrived.Before(e.until) {
		s.mu.Unlock()
		return snap.set, nil
	}
	f := s.inflight
	if f == nil {
		if !s.takeTokenLocked(arrived) {
			s.mu.Unlock()
			return snap.set, nil
		}
		f = s.startLocked(arrived, TriggerUnknownKID)
	}
	s.mu.Unlock()
	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	now := s.now()
	cur := s.cur.Load()
	if !s.usable(cur, now) {
		return nil, s.unavailable(now)
	}
	// A fetch that started before this lookup arrived may predate the
	// key's publication: only a later one proves the kid absent.
	if len(cur.set.Lookup(kid)) == 0 && !f.start.Before(arrived) {
		s.mu.Lock()
		s.addNegativeLocked(kid, cur.gen, now)
		s.mu.Unlock()
	}
	return cur.set, nil
}

// takeTokenLocked takes one fetch from the unknown-kid token bucket (a
// generic cell rate algorithm: burst UnknownKIDBurst, one per
// UnknownKIDRefill) and reports whether there was one.
func (s *Set) takeTokenLocked(now time.Time) bool {
	tat := s.bucketTAT
	if tat.Before(now) {
		tat = now
	}
	if tat.Sub(now) > time.Duration(s.cfg.UnknownKIDBurst-1)*s.cfg.UnknownKIDRefill {
		return false
	}
	s.bucketTAT = tat.Add(s.cfg.UnknownKIDRefill)
	return true
}

// recover handles the lack of a usable snapshot: it starts an attempt when
// one is due, waits for the newest attempt in flight, and fails closed
// otherwise.
func (s *Set) recover(ctx context.Context, now time.Time) (jose.KeySet, error) {
	s.mu.Lock()
	s.noteOutageLocked(now)
	f := s.inflight
	if !now.Before(s.nextAttempt) {
		f = s.startLocked(now, TriggerRecovery)
	}
	wake := s.wake
	s.mu.Unlock()
	s.flushEvents()
	if f == nil {
		return nil, s.unavailable(now)
	}
	for {
		select {
		case <-f.done:
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		now = s.now()
		if cur := s.cur.Load(); s.usable(cur, now) {
			return cur.set, nil
		}
		select {
		case <-f.done:
			return nil, s.unavailable(now)
		default:
		}
		s.mu.Lock()
		wake = s.wake
		s.mu.Unlock()
	}
}

// startLocked starts a fetch and makes it the one in flight.
func (s *Set) startLocked(now time.Time, trigger Trigger) *flight {
	f := &flight{done: make(chan struct{}), start: now, trigger: trigger}
	s.inflight = f
	if !s.usable(s.cur.Load(), now) {
		s.nextAttempt = now.Add(s.jitterLocked(s.cfg.RetryInterval))
	}
	s.schedNext.Store(now.Add(s.cfg.FetchTimeout).UnixNano())
	s.fetches.Add(1)
	go s.fetch(f)
	return f
}

// jitterLocked returns a delay between d/2 and d.
func (s *Set) jitterLocked(d time.Duration) time.Duration {
	var u uint64
	if s.cfg.Rand != nil {
		u = s.cfg.Rand.Uint64()
	} else {
		u = rand.Uint64()
	}
	half := d / 2
	if half <= 0 {
		return d
	}
	return d - half + time.Duration(u%uint64(half+1))
}

// refreshAsync starts a background refresh of an expired set unless one is
// in flight or a backoff holds it, without waiting for it.
func (s *Set) refreshAsync(now time.Time) {
	if now.UnixNano() < s.schedNext.Load() {
		return
	}
	s.mu.Lock()
	if s.inflight == nil && now.UnixNano() >= s.schedNext.Load() {
		s.startLocked(now, TriggerScheduled)
	}
	s.mu.Unlock()
}

// Refresh fetches the set now, whatever its age, backoff and token bucket,
// or joins the fetch in flight, and waits for it. The fetch runs on its own
// context bounded by FetchTimeout: ctx only bounds the wait.
func (s *Set) Refresh(ctx context.Context) error {
	s.mu.Lock()
	f := s.inflight
	if f == nil {
		f = s.startLocked(s.now(), TriggerManual)
	}
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
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.FetchTimeout)
	defer cancel()
	opt := fetchOptions{timeout: s.cfg.FetchTimeout, maxBody: s.cfg.MaxBodySize}

	s.mu.Lock()
	u := s.jwksURL
	s.mu.Unlock()
	var err error
	if u == "" {
		u, err = discover(ctx, s.cfg.Client, s.cfg.Issuer, opt)
	}
	var res *fetchResult
	if err == nil {
		// The set to revalidate is read only now: a concurrent attempt may
		// have replaced it.
		if old := s.cur.Load(); old != nil && old.url == u {
			opt.etag = old.etag
		}
		res, err = fetch(ctx, s.cfg.Client, u, opt)
	}
	now := s.now()

	s.mu.Lock()
	old := s.cur.Load()
	if err == nil && res.notModified && (old == nil || old.etag != opt.etag) {
		err = fmt.Errorf("%w: GET %s: 304 Not Modified for a set no longer held", ErrFetch, u)
	}
	result := ResultError
	var next *snapshot
	if err == nil {
		next = s.nextSnapshot(old, res, u, now)
		s.cur.Store(next)
		result = ResultOK
		if res.notModified {
			result = ResultNotModified
		}
	}
	if s.inflight == f {
		s.inflight = nil
	}
	f.err = err
	trigger := f.trigger
	s.emitLocked(func(o Observer) { o.Fetched(trigger, result, err) })
	if err != nil {
		s.lastErr, s.lastErrAt = err, now
		if s.cfg.URL == "" {
			s.jwksURL = "" // discover again next time
		}
		if s.usable(old, now) {
			s.backoff = min(max(2*s.backoff, s.cfg.RetryInterval), s.cfg.MaxBackoff)
			s.schedNext.Store(now.Add(s.jitterLocked(s.backoff)).UnixNano())
		} else {
			s.schedNext.Store(0)
			if !s.outage && old == nil {
				s.outage, s.outageStart = true, f.start
				ue := s.unavailableLocked(now)
				s.emitLocked(func(o Observer) { o.Unusable(ue) })
			}
			s.noteOutageLocked(now)
		}
	} else {
		s.jwksURL = u
		s.lastErr, s.lastErrAt = nil, time.Time{}
		s.backoff = 0
		s.schedNext.Store(0)
		s.nextAttempt = time.Time{}
		if old == nil || next.gen != old.gen {
			st := s.statusLocked(now)
			s.emitLocked(func(o Observer) { o.Changed(st) })
		}
		if s.outage {
			s.outage = false
			outage := now.Sub(s.outageStart)
			s.emitLocked(func(o Observer) { o.Recovered(outage) })
		}
	}
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
	s.flushEvents()
	close(f.done)
}

// noteOutageLocked starts an outage when the held set has passed MaxStale.
func (s *Set) noteOutageLocked(now time.Time) {
	snap := s.cur.Load()
	if s.outage || snap == nil || s.usable(snap, now) {
		return
	}
	s.outage, s.outageStart = true, snap.fetched.Add(s.cfg.MaxStale)
	ue := s.unavailableLocked(now)
	s.emitLocked(func(o Observer) { o.Unusable(ue) })
}

// emitLocked queues an event for the Observer; flushEvents delivers it.
func (s *Set) emitLocked(ev func(Observer)) {
	if s.cfg.Observer != nil {
		s.events = append(s.events, ev)
	}
}

// flushEvents delivers the queued events in order, from one goroutine at a
// time and without the lock held.
func (s *Set) flushEvents() {
	if s.cfg.Observer == nil {
		return
	}
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		return
	}
	s.draining = true
	for len(s.events) > 0 {
		evs := s.events
		s.events = nil
		s.mu.Unlock()
		for _, ev := range evs {
			ev(s.cfg.Observer)
		}
		s.mu.Lock()
	}
	s.draining = false
	s.mu.Unlock()
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

// unavailable explains why no usable set exists.
func (s *Set) unavailable(now time.Time) error {
	s.mu.Lock()
	s.noteOutageLocked(now)
	err := s.unavailableLocked(now)
	s.mu.Unlock()
	s.flushEvents()
	return err
}

func (s *Set) unavailableLocked(now time.Time) *UnavailableError {
	ue := &UnavailableError{Reason: "no key set fetched yet", Err: s.lastErr, NextAttempt: now}
	if snap := s.cur.Load(); snap != nil {
		ue.Reason = fmt.Sprintf("the last good key set is %s old (limit %s)", now.Sub(snap.fetched).Truncate(time.Second), s.cfg.MaxStale)
	}
	if s.nextAttempt.After(now) {
		ue.NextAttempt, ue.RetryAfter = s.nextAttempt, s.nextAttempt.Sub(now)
	}
	return ue
}

// Ready reports whether the set can serve keys now: nil, or an
// [*UnavailableError] wrapping [ErrUnavailable]. It does no I/O.
func (s *Set) Ready() error {
	now := s.now()
	if s.usable(s.cur.Load(), now) {
		return nil
	}
	return s.unavailable(now)
}

// Run refreshes the set in the background until ctx ends: first at once,
// then when about four fifths of each set's lifetime have passed, so that
// callers never wait on the refresh of a set they already hold. After a
// failed refresh of a usable set it retries with a jittered backoff doubling
// from RetryInterval up to MaxBackoff; while no usable set exists it
// attempts every RetryInterval (jittered down to half of it). Run the loop
// once per Set.
func (s *Set) Run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		s.mu.Lock()
		wake := s.wake
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-wake:
		}
		timer.Reset(max(s.tick(s.now()), time.Millisecond))
	}
}

// tick starts the fetch Run owes at now, if any, and returns the time until
// the next one may be due.
func (s *Set) tick(now time.Time) time.Duration {
	s.mu.Lock()
	defer s.flushEvents()
	defer s.mu.Unlock()
	snap := s.cur.Load()
	if !s.usable(snap, now) {
		s.noteOutageLocked(now)
		if !now.Before(s.nextAttempt) {
			s.startLocked(now, TriggerRecovery)
		}
		return s.nextAttempt.Sub(now)
	}
	life := snap.expires.Sub(snap.fetched)
	due := snap.fetched.Add(life - life/5)
	if sched := time.Unix(0, s.schedNext.Load()); due.Before(sched) {
		due = sched
	}
	stale := snap.fetched.Add(s.cfg.MaxStale).Sub(now) + time.Millisecond
	if s.inflight != nil {
		// Its end wakes Run.
		return min(s.cfg.FetchTimeout, stale)
	}
	if now.Before(due) {
		return min(due.Sub(now), stale)
	}
	s.startLocked(now, TriggerScheduled)
	return min(s.cfg.FetchTimeout, stale)
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
	// Usable reports whether a usable set exists: one was fetched, no
	// longer ago than MaxStale. While it is false, lookups fail with
	// [ErrUnavailable].
	Usable bool
	// NextAttempt is, while no usable set exists, when the next fetch may
	// start (never before the time of the Status); zero while Usable.
	NextAttempt time.Time
	// LastError is the error of the last fetch when it failed, else nil;
	// LastErrorAt is when.
	LastError   error
	LastErrorAt time.Time
	// Fetches counts the fetches started, discovery included.
	Fetches uint64
}

// Status returns the set's state.
func (s *Set) Status() Status {
	now := s.now()
	s.mu.Lock()
	st := s.statusLocked(now)
	s.mu.Unlock()
	return st
}

func (s *Set) statusLocked(now time.Time) Status {
	st := Status{URL: s.jwksURL, LastError: s.lastErr, LastErrorAt: s.lastErrAt}
	st.Fetches = s.fetches.Load()
	snap := s.cur.Load()
	if snap != nil {
		st.KeyIDs = snap.set.KeyIDs()
		st.Skipped = append([]jose.SkippedKey(nil), snap.set.Skipped...)
		st.Generation = snap.gen
		st.Fetched, st.Expires = snap.fetched, snap.expires
	}
	st.Usable = s.usable(snap, now)
	if !st.Usable {
		st.NextAttempt = now
		if s.nextAttempt.After(now) {
			st.NextAttempt = s.nextAttempt
		}
	}
	return st
}
