package verifier

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/keyward/keyward/jose"
)

// ErrRevoked reports a token that the issuer has revoked: its "jti", its
// session ("sid") or its refresh-token family ("fid") is in the revocation
// feed, or its subject has a cutoff later than its "iat".
// The answer is 401 invalid_token.
var ErrRevoked = errors.New("verifier: token revoked")

// ErrRevocationFeed reports a revocation feed that could not be fetched or
// read. The list keeps the last good feed.
var ErrRevocationFeed = errors.New("verifier: revocation feed unavailable")

// ErrRevocationStale reports a revocation list whose last good fetch (or
// whose start, before one) is older than RevocationConfig.MaxStale:
// revocations made since may be missing from it. It wraps
// [ErrKeySourceUnavailable], so a token checked against it is answered 503,
// not accepted and not 401: the token may be valid.
var ErrRevocationStale = fmt.Errorf("%w: revocation feed stale", ErrKeySourceUnavailable)

// Defaults of [RevocationConfig].
const (
	DefaultRevocationEvery    = 5 * time.Second
	DefaultRevocationTimeout  = 5 * time.Second
	DefaultRevocationMaxBytes = 1 << 20
	// DefaultRevocationWait is how long [RevocationList.Run] asks the
	// issuer to hold each request until a revocation arrives.
	DefaultRevocationWait = 20 * time.Second
	// DefaultRevocationMaxStale is how old a list may grow before
	// [RevocationList.Ready] fails and, unless
	// RevocationConfig.InsecureServeStale, [RevocationList.Check] refuses
	// every token with [ErrRevocationStale]. Two minutes outlast six
	// long-poll waits or two dozen polls at the default interval, so an
	// issuer restart or a lost request never trips it, while a verifier
	// cut from its issuer longer stops accepting tokens it can no longer
	// know to be unrevoked.
	DefaultRevocationMaxStale = 2 * time.Minute
)

// RevocationFeed is the JSON document of an issuer's revocation feed (GET
// /revocations on keyward serve): the access tokens revoked before their
// expiry, by "jti"; the sessions and refresh-token families revoked, whose
// access tokens are refused by their "sid" and "fid" claims; and the users
// whose tokens issued before a cutoff are revoked. Times are seconds since
// the Unix epoch. A feed without "sessions" or "families" (an older issuer)
// lists none.
type RevocationFeed struct {
	// GeneratedAt is when the issuer wrote the feed.
	GeneratedAt int64 `json:"generated_at"`
	// Tokens are the revoked access tokens still unexpired.
	Tokens []RevokedToken `json:"tokens"`
	// Sessions are the revoked sessions whose access tokens may not all
	// have expired.
	Sessions []RevokedSession `json:"sessions"`
	// Families are the revoked refresh-token families whose access tokens
	// may not all have expired.
	Families []RevokedFamily `json:"families"`
	// Users are the per-subject cutoffs.
	Users []RevokedUser `json:"users"`
	// Cursor, in an answer to a request with "since", names the last
	// change of the issuer's revocation log that the answer holds: the
	// next request asks for the changes since it. It is empty in an
	// answer without since (the full list of an older issuer).
	Cursor string `json:"cursor,omitzero"`
	// Full says that the lists are the whole state, which replaces what
	// the verifier holds; otherwise, in an answer with a Cursor, they are
	// changes, each applied over what the verifier holds (an entry already
	// held keeps the later expiry or cutoff).
	Full bool `json:"full,omitzero"`
	// More says that the answer was cut at the issuer's limit: the
	// verifier asks again at once from the Cursor.
	More bool `json:"more,omitzero"`
}

// maxCursorLen bounds a feed's cursor: a decimal number of at most 18
// digits.
const maxCursorLen = 18

// maxPages bounds the answers with More that one [RevocationList.Refresh]
// follows; the rest waits for the next one.
const maxPages = 16

// RevokedSession is one revoked session of a [RevocationFeed]: every token
// whose "sid" claim is SID is revoked.
type RevokedSession struct {
	// SID is the session's ID, the tokens' "sid".
	SID string `json:"sid"`
	// Exp is when the last token of the session expires; the entry is
	// dropped after it.
	Exp int64 `json:"exp"`
}

// RevokedFamily is one revoked refresh-token family of a [RevocationFeed]:
// every token whose "fid" claim is FID is revoked.
type RevokedFamily struct {
	// FID is the family's ID, the tokens' "fid".
	FID string `json:"fid"`
	// Exp is when the last token of the family expires; the entry is
	// dropped after it.
	Exp int64 `json:"exp"`
}

// RevokedToken is one revoked access token of a [RevocationFeed].
type RevokedToken struct {
	// JTI is the token's "jti".
	JTI string `json:"jti"`
	// Exp is the token's "exp"; the entry is dropped after it.
	Exp int64 `json:"exp"`
}

// RevokedUser is one subject cutoff of a [RevocationFeed]: the subject's
// tokens with an "iat" before Before are revoked.
type RevokedUser struct {
	// Sub is the token subject.
	Sub string `json:"sub"`
	// Before is the cutoff.
	Before int64 `json:"before"`
}

// RevocationConfig configures a [RevocationList].
type RevocationConfig struct {
	// URL is the issuer's revocation feed, e.g.
	// https://auth.example.com/revocations. Required.
	URL string
	// Client makes the requests. Required: the caller chooses its
	// transport; there is no default client.
	Client *http.Client
	// Every is the polling interval of [RevocationList.Run] when the
	// issuer does not hold requests (it predates long-polls or holds too
	// many) or a fetch failed. Zero means DefaultRevocationEvery (5 s).
	Every time.Duration
	// Wait is how long [RevocationList.Run] asks the issuer to hold each
	// request for the changes since its cursor (GET
	// /revocations?since=C&wait=N, whole seconds; keyward serve holds at
	// most 25 s): a revocation then arrives as soon as the issuer has it,
	// instead of at the next poll. The Client must allow Timeout + Wait
	// for one answer. Zero means DefaultRevocationWait (20 s); negative
	// means no long-poll, polling every Every.
	Wait time.Duration
	// Timeout bounds one fetch. Zero means DefaultRevocationTimeout (5 s).
	Timeout time.Duration
	// MaxBytes caps the size of one answer of the feed; a larger answer is
	// refused and the last good list kept. Zero means
	// DefaultRevocationMaxBytes (1 MiB).
	MaxBytes int64
	// MaxStale is how old the list may grow (since its last good fetch,
	// or since [NewRevocationList] before one) before
	// [RevocationList.Ready] reports it and [RevocationList.Check] refuses
	// every token with [ErrRevocationStale] (503). Zero means
	// DefaultRevocationMaxStale (2 min).
	MaxStale time.Duration
	// InsecureServeStale keeps checking tokens against a list older than
	// MaxStale instead of refusing them: the verifier then accepts, for
	// as long as it is cut from the issuer, tokens revoked since its last
	// good fetch. Ready still reports the list stale.
	InsecureServeStale bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Observer, when set, is told of every fetch and of the list's changes
	// of state, for logs and metrics. Nil means none.
	Observer RevocationObserver
}

// RevocationObserver receives the events of a [RevocationList], typically
// to log and count them. Its methods are called after the fetch, outside
// the list's lock, and must be safe for concurrent use. Events of a fetch
// cut short because the caller's context ended are not reported.
type RevocationObserver interface {
	// Fetched reports one fetch by result: "ok" for a new feed,
	// "not_modified" for a revalidation, "error" for a failure (err is
	// then non-nil and wraps [ErrRevocationFeed]).
	Fetched(result string, err error)
	// Loaded reports a fetch that changed the entries in force (and the
	// first successful fetch); st describes the list now.
	Loaded(st RevocationStatus)
	// Unavailable reports the first failed fetch since the list started or
	// last succeeded, once per outage: the last good list stays in force
	// meanwhile, so revocations issued during the outage are not learnt.
	Unavailable(err error)
	// Recovered reports the first successful fetch after an outage, with
	// the time since the outage's first failure.
	Recovered(outage time.Duration, st RevocationStatus)
}

// RevocationList holds an issuer's revocation feed for
// [Config.Revocations], refreshed by polling: the full state at first, then
// the changes since the last one held (GET /revocations?since=CURSOR), or,
// from an issuer that predates the cursor, the full list revalidated with
// If-None-Match. When a fetch fails the last good list stays in force.
// Each answer is capped by MaxBytes (a larger one is refused) and expired
// entries are dropped, so it holds what the issuer has in force. It is safe
// for concurrent use.
type RevocationList struct {
	cfg RevocationConfig

	base    *url.URL  // cfg.URL
	created time.Time // when the list was made, the age's origin before a fetch

	mu        sync.RWMutex
	entries   feedEntries
	cursor    string // the last change held; empty before a full state
	etag      string
	fetchedAt time.Time
	lastErr   error
	failSince time.Time // when the current outage began; zero when none
}

// NewRevocationList validates cfg and returns an empty list; call
// [RevocationList.Refresh] or [RevocationList.Run] to fill it.
func NewRevocationList(cfg RevocationConfig) (*RevocationList, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("verifier: revocation feed URL %q is not an absolute http(s) URL", cfg.URL)
	}
	if cfg.Client == nil {
		return nil, errors.New("verifier: RevocationConfig.Client is required")
	}
	if cfg.Every < 0 || cfg.Timeout < 0 || cfg.MaxBytes < 0 || cfg.MaxStale < 0 {
		return nil, errors.New("verifier: negative RevocationConfig.Every, Timeout, MaxBytes or MaxStale")
	}
	if cfg.MaxStale == 0 {
		cfg.MaxStale = DefaultRevocationMaxStale
	}
	if cfg.Every == 0 {
		cfg.Every = DefaultRevocationEvery
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultRevocationTimeout
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultRevocationMaxBytes
	}
	switch {
	case cfg.Wait == 0:
		cfg.Wait = DefaultRevocationWait
	case cfg.Wait < 0:
		cfg.Wait = 0
	case cfg.Wait < time.Second:
		cfg.Wait = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &RevocationList{cfg: cfg, base: u, entries: newFeedEntries(0, 0, 0, 0), created: cfg.Now()}, nil
}

// Refresh fetches the feed once, without waiting for changes. A 304 answer
// keeps the list; on any failure the last good list stays in force and the
// error wraps [ErrRevocationFeed].
func (l *RevocationList) Refresh(ctx context.Context) error {
	_, err := l.refresh(ctx, 0)
	return err
}

// refresh fetches the feed once, asking the issuer to hold the request up
// to wait for changes after the cursor held (0: not), reports the outcome
// to the Observer and returns whether the entries in force changed.
func (l *RevocationList) refresh(ctx context.Context, wait time.Duration) (bool, error) {
	result, changed, err := l.fetch(ctx, wait)
	if err != nil && ctx.Err() != nil {
		return false, err // stopped by the caller: neither an outage nor news
	}
	now := l.cfg.Now()
	l.mu.Lock()
	l.lastErr = err
	outageBegan := err != nil && l.failSince.IsZero()
	recovered := err == nil && !l.failSince.IsZero()
	outage := now.Sub(l.failSince)
	switch {
	case outageBegan:
		l.failSince = now
	case recovered:
		l.failSince = time.Time{}
	}
	l.mu.Unlock()
	o := l.cfg.Observer
	if o == nil {
		return changed, err
	}
	o.Fetched(result, err)
	switch {
	case outageBegan:
		o.Unavailable(err)
	case recovered:
		o.Recovered(outage, l.Status())
	}
	if changed {
		o.Loaded(l.Status())
	}
	return changed, err
}

// fetch fetches the feed, following the answers that say More up to
// maxPages, and returns the result of the last as
// [RevocationObserver.Fetched] names it, and whether the entries in force
// changed (always on the first success).
func (l *RevocationList) fetch(ctx context.Context, wait time.Duration) (result string, changed bool, err error) {
	for range maxPages {
		var more, ch bool
		result, ch, more, err = l.fetchPage(ctx, wait)
		changed = changed || ch
		if err != nil || !more {
			break
		}
	}
	return result, changed, err
}

// fetchPage fetches one answer of the feed: the changes since the cursor
// held, or the full state when none is held yet (since=0). An issuer that
// predates the cursor ignores since and answers its full list, revalidated
// with If-None-Match. With a cursor held and a wait, it asks the issuer to
// hold the request until a change arrives or the wait ends.
func (l *RevocationList) fetchPage(ctx context.Context, wait time.Duration) (result string, changed, more bool, err error) {
	l.mu.RLock()
	etag, cursor := l.etag, l.cursor
	l.mu.RUnlock()
	if cursor == "" {
		wait = 0
	}
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout+wait)
	defer cancel()
	u := *l.base
	q := u.Query()
	q.Set("since", cmp.Or(cursor, "0"))
	if wait > 0 {
		q.Set("wait", strconv.FormatInt(int64(wait/time.Second), 10))
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "error", false, false, fmt.Errorf("%w: %w", ErrRevocationFeed, err)
	}
	req.Header.Set("Accept", "application/json")
	if etag != "" && cursor == "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := l.cfg.Client.Do(req)
	if err != nil {
		return "error", false, false, fmt.Errorf("%w: %w", ErrRevocationFeed, err)
	}
	defer resp.Body.Close()
	now := l.cfg.Now()
	switch resp.StatusCode {
	case http.StatusNotModified:
		l.mu.Lock()
		l.fetchedAt = now
		l.entries.expire(now.Unix())
		l.mu.Unlock()
		return "not_modified", false, false, nil
	case http.StatusOK:
	default:
		return "error", false, false, fmt.Errorf("%w: %s answered %s", ErrRevocationFeed, l.cfg.URL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, l.cfg.MaxBytes+1))
	if err != nil {
		return "error", false, false, fmt.Errorf("%w: reading %s: %w", ErrRevocationFeed, l.cfg.URL, err)
	}
	if int64(len(body)) > l.cfg.MaxBytes {
		return "error", false, false, fmt.Errorf("%w: %s is larger than %d bytes", ErrRevocationFeed, l.cfg.URL, l.cfg.MaxBytes)
	}
	entries, meta, err := parseFeed(body, now.Unix())
	if err == nil && meta.cursor != "" && !meta.full && cursor == "" {
		err = errors.New("changes without a state to apply them to")
	}
	if err != nil {
		return "error", false, false, fmt.Errorf("%w: %s: %w", ErrRevocationFeed, l.cfg.URL, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if meta.cursor != "" && !meta.full {
		changed = l.entries.merge(entries, now.Unix())
		l.entries.expire(now.Unix())
	} else {
		changed = !l.entries.equal(entries)
		l.entries = entries
	}
	changed = changed || l.fetchedAt.IsZero()
	l.cursor, l.etag = meta.cursor, ""
	if meta.cursor == "" {
		l.etag = resp.Header.Get("ETag")
	}
	l.fetchedAt = now
	return "ok", changed, meta.more, nil
}

// feedEntries is what a list holds of a feed: token IDs, session IDs and
// family IDs to their expiry (zero: none), and subjects to their cutoff.
type feedEntries struct {
	tokens   map[string]int64 // jti → exp
	sessions map[string]int64 // sid → exp
	families map[string]int64 // fid → exp
	users    map[string]int64 // sub → cutoff
}

// newFeedEntries returns empty entries sized for the counts given.
func newFeedEntries(tokens, sessions, families, users int) feedEntries {
	return feedEntries{
		tokens:   make(map[string]int64, tokens),
		sessions: make(map[string]int64, sessions),
		families: make(map[string]int64, families),
		users:    make(map[string]int64, users),
	}
}

// equal reports whether e and o hold the same entries.
func (e feedEntries) equal(o feedEntries) bool {
	return maps.Equal(e.tokens, o.tokens) && maps.Equal(e.sessions, o.sessions) &&
		maps.Equal(e.families, o.families) && maps.Equal(e.users, o.users)
}

// expire drops the token, session and family entries past their expiry.
func (e feedEntries) expire(now int64) {
	for _, m := range []map[string]int64{e.tokens, e.sessions, e.families} {
		maps.DeleteFunc(m, func(_ string, exp int64) bool { return exp != 0 && exp <= now })
	}
}

// addExpiring adds an entry that leaves at exp, unless it has left at now;
// listed twice, it keeps the later expiry.
func addExpiring(m map[string]int64, key string, exp, now int64) {
	if exp > now || exp == 0 {
		if old, ok := m[key]; !ok || (old != 0 && (exp == 0 || exp > old)) {
			m[key] = exp
		}
	}
}

// merge applies the changes in o over e, each entry keeping the later
// expiry or cutoff, and reports whether e changed.
func (e feedEntries) merge(o feedEntries, now int64) bool {
	changed := false
	for _, p := range [][2]map[string]int64{{e.tokens, o.tokens}, {e.sessions, o.sessions}, {e.families, o.families}} {
		for k, exp := range p[1] {
			old, had := p[0][k]
			addExpiring(p[0], k, exp, now)
			if v, has := p[0][k]; has != had || v != old {
				changed = true
			}
		}
	}
	for sub, before := range o.users {
		if old, ok := e.users[sub]; !ok || before > old {
			e.users[sub] = before
			changed = true
		}
	}
	return changed
}

// feedMeta is what a feed document says of itself: its cursor, whether it
// is the full state, and whether more changes wait.
type feedMeta struct {
	cursor     string
	full, more bool
}

// parseFeed reads a [RevocationFeed] document strictly (one JSON object,
// no duplicate or wrongly cased member names) into the entries a list
// holds: token, session and family IDs to their expiry, without the
// entries already expired at now (an expiry of zero never expires), and
// subjects to their cutoff, the latest when one is listed twice, with what
// the document says of itself. An entry without its key, a cursor that is
// not a decimal number of at most 18 digits, or "full" or "more" without a
// cursor refuses the whole feed.
func parseFeed(body []byte, now int64) (feedEntries, feedMeta, error) {
	var feed RevocationFeed
	if err := json.Unmarshal(body, &feed); err != nil {
		return feedEntries{}, feedMeta{}, err
	}
	meta := feedMeta{cursor: feed.Cursor, full: feed.Full, more: feed.More}
	if len(meta.cursor) > maxCursorLen || strings.Trim(meta.cursor, "0123456789") != "" {
		return feedEntries{}, feedMeta{}, errors.New("cursor is not a decimal number of at most 18 digits")
	}
	if meta.cursor == "" && (meta.full || meta.more) {
		return feedEntries{}, feedMeta{}, errors.New(`"full" or "more" without a cursor`)
	}
	e := newFeedEntries(len(feed.Tokens), len(feed.Sessions), len(feed.Families), len(feed.Users))
	for _, t := range feed.Tokens {
		if t.JTI == "" {
			return feedEntries{}, feedMeta{}, errors.New("token entry without jti")
		}
		addExpiring(e.tokens, t.JTI, t.Exp, now)
	}
	for _, s := range feed.Sessions {
		if s.SID == "" {
			return feedEntries{}, feedMeta{}, errors.New("session entry without sid")
		}
		addExpiring(e.sessions, s.SID, s.Exp, now)
	}
	for _, f := range feed.Families {
		if f.FID == "" {
			return feedEntries{}, feedMeta{}, errors.New("family entry without fid")
		}
		addExpiring(e.families, f.FID, f.Exp, now)
	}
	for _, u := range feed.Users {
		if u.Sub == "" {
			return feedEntries{}, feedMeta{}, errors.New("user entry without sub")
		}
		e.users[u.Sub] = max(e.users[u.Sub], u.Before)
	}
	return e, meta, nil
}

// Run follows the feed until ctx ends, and returns only then: it fetches
// the full state at once, then long-polls the changes since its cursor,
// asking the issuer to hold each request up to RevocationConfig.Wait, and
// asks again at once after an answer with a cursor that the issuer held
// (half the wait or more) or that brought changes. After an answer given
// at once without changes (an issuer that holds too many requests, or
// predates long-polls or cursors), or a failure, it waits
// RevocationConfig.Every first, as polling does; with a
// negative Wait it only polls. Failures keep the last good list;
// [RevocationList.Status] and the Observer report them. Run the loop once
// per list.
func (l *RevocationList) Run(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		begin := l.cfg.Now()
		changed, err := l.refresh(ctx, l.cfg.Wait)
		if ctx.Err() != nil {
			return
		}
		held := l.cfg.Now().Sub(begin) >= l.cfg.Wait/2
		if err == nil && l.cfg.Wait > 0 && l.following() && (changed || held) {
			continue
		}
		t.Reset(l.cfg.Every)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// following reports whether the list holds a cursor of the issuer's
// revocation log: the issuer answers changes, and may hold a request for
// them.
func (l *RevocationList) following() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.cursor != ""
}

// RevocationStatus describes a [RevocationList] for health checks and logs.
type RevocationStatus struct {
	// FetchedAt is when the feed was last fetched successfully (zero:
	// never).
	FetchedAt time.Time
	// Tokens, Sessions, Families and Users count the entries in force.
	Tokens, Sessions, Families, Users int
	// Err is the last fetch's error, nil when it succeeded.
	Err error
}

// Status reports the list's state.
func (l *RevocationList) Status() RevocationStatus {
	l.mu.RLock()
	defer l.mu.RUnlock()
	e := l.entries
	return RevocationStatus{FetchedAt: l.fetchedAt, Tokens: len(e.tokens), Sessions: len(e.sessions),
		Families: len(e.families), Users: len(e.users), Err: l.lastErr}
}

// Ready returns an error wrapping [ErrRevocationStale] when the list's last
// good fetch (before one, its creation) is older than
// RevocationConfig.MaxStale, and nil otherwise; a health check reports the
// verifier not ready on it.
func (l *RevocationList) Ready() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.staleLocked()
}

// staleLocked is Ready with l.mu held.
func (l *RevocationList) staleLocked() error {
	since := l.fetchedAt
	if since.IsZero() {
		since = l.created
	}
	if age := l.cfg.Now().Sub(since); age > l.cfg.MaxStale {
		if l.fetchedAt.IsZero() {
			return fmt.Errorf("%w: no good fetch of %s in %v (max %v)", ErrRevocationStale, l.cfg.URL, age.Round(time.Second), l.cfg.MaxStale)
		}
		return fmt.Errorf("%w: last good fetch of %s %v ago (max %v)", ErrRevocationStale, l.cfg.URL, age.Round(time.Second), l.cfg.MaxStale)
	}
	return nil
}

// Check returns an error wrapping [ErrRevoked] when the claims belong to a
// revoked token: its "jti", its "sid" or its "fid" is listed, or its "sub"
// has a cutoff and its "iat" is before the cutoff (a token without "iat" is
// refused when its subject has a cutoff). Unless
// RevocationConfig.InsecureServeStale, it returns an error wrapping
// [ErrRevocationStale] for every token while the list is older than
// MaxStale. Otherwise it returns nil.
func (l *RevocationList) Check(c *jose.Claims) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if !l.cfg.InsecureServeStale {
		if err := l.staleLocked(); err != nil {
			return err
		}
	}
	if c.ID != "" {
		if _, ok := l.entries.tokens[c.ID]; ok {
			return fmt.Errorf("%w: jti %q is in the revocation feed", ErrRevoked, c.ID)
		}
	}
	if sid := c.String("sid"); sid != "" {
		if _, ok := l.entries.sessions[sid]; ok {
			return fmt.Errorf("%w: session %q is in the revocation feed", ErrRevoked, sid)
		}
	}
	if fid := c.String("fid"); fid != "" {
		if _, ok := l.entries.families[fid]; ok {
			return fmt.Errorf("%w: refresh-token family %q is in the revocation feed", ErrRevoked, fid)
		}
	}
	if c.Subject != "" {
		if before, ok := l.entries.users[c.Subject]; ok && int64(c.IssuedAt) < before {
			return fmt.Errorf("%w: sub %q has tokens issued before %d revoked (iat %d)", ErrRevoked, c.Subject, before, int64(c.IssuedAt))
		}
	}
	return nil
}
