package verifier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/keyward/keyward/jose"
)

// ErrRevoked reports a token that the issuer has revoked: its "jti" is in
// the revocation feed, or its subject has a cutoff later than its "iat".
// The answer is 401 invalid_token.
var ErrRevoked = errors.New("verifier: token revoked")

// ErrRevocationFeed reports a revocation feed that could not be fetched or
// read. The list keeps the last good feed.
var ErrRevocationFeed = errors.New("verifier: revocation feed unavailable")

// Defaults of [RevocationConfig].
const (
	DefaultRevocationEvery    = 5 * time.Second
	DefaultRevocationTimeout  = 5 * time.Second
	DefaultRevocationMaxBytes = 1 << 20
)

// RevocationFeed is the JSON document of an issuer's revocation feed (GET
// /revocations on keyward serve): the access tokens revoked before their
// expiry, by "jti", and the users whose tokens issued before a cutoff are
// revoked. Times are seconds since the Unix epoch.
type RevocationFeed struct {
	// GeneratedAt is when the issuer wrote the feed.
	GeneratedAt int64 `json:"generated_at"`
	// Tokens are the revoked access tokens still unexpired.
	Tokens []RevokedToken `json:"tokens"`
	// Users are the per-subject cutoffs.
	Users []RevokedUser `json:"users"`
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
	// Every is the polling interval of [RevocationList.Run]. Zero means
	// DefaultRevocationEvery (5 s).
	Every time.Duration
	// Timeout bounds one fetch. Zero means DefaultRevocationTimeout (5 s).
	Timeout time.Duration
	// MaxBytes caps the feed's size; a larger feed is refused and the last
	// good list kept. Zero means DefaultRevocationMaxBytes (1 MiB).
	MaxBytes int64
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

// RevocationList holds an issuer's revocation feed, refreshed by polling
// with If-None-Match, for [Config.Revocations]. When a fetch fails the last
// good feed stays in force. Its memory is bounded by MaxBytes: a feed over
// the cap is refused, and expired token entries are dropped. It is safe for
// concurrent use.
type RevocationList struct {
	cfg RevocationConfig

	mu        sync.RWMutex
	tokens    map[string]int64 // jti → exp
	users     map[string]int64 // sub → cutoff
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
	if cfg.Every < 0 || cfg.Timeout < 0 || cfg.MaxBytes < 0 {
		return nil, errors.New("verifier: negative RevocationConfig.Every, Timeout or MaxBytes")
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
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &RevocationList{cfg: cfg, tokens: map[string]int64{}, users: map[string]int64{}}, nil
}

// Refresh fetches the feed once. A 304 answer keeps the list; on any
// failure the last good list stays in force and the error wraps
// [ErrRevocationFeed].
func (l *RevocationList) Refresh(ctx context.Context) error {
	result, changed, err := l.fetch(ctx)
	if err != nil && ctx.Err() != nil {
		return err // stopped by the caller: neither an outage nor news
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
		return err
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
	return err
}

// fetch fetches the feed once and returns its result as
// [RevocationObserver.Fetched] names it, and whether the entries in force
// changed (always on the first success).
func (l *RevocationList) fetch(ctx context.Context) (result string, changed bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.cfg.URL, nil)
	if err != nil {
		return "error", false, fmt.Errorf("%w: %w", ErrRevocationFeed, err)
	}
	req.Header.Set("Accept", "application/json")
	l.mu.RLock()
	etag := l.etag
	l.mu.RUnlock()
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := l.cfg.Client.Do(req)
	if err != nil {
		return "error", false, fmt.Errorf("%w: %w", ErrRevocationFeed, err)
	}
	defer resp.Body.Close()
	now := l.cfg.Now()
	switch resp.StatusCode {
	case http.StatusNotModified:
		l.mu.Lock()
		l.fetchedAt = now
		l.expire(now.Unix())
		l.mu.Unlock()
		return "not_modified", false, nil
	case http.StatusOK:
	default:
		return "error", false, fmt.Errorf("%w: %s answered %s", ErrRevocationFeed, l.cfg.URL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, l.cfg.MaxBytes+1))
	if err != nil {
		return "error", false, fmt.Errorf("%w: reading %s: %w", ErrRevocationFeed, l.cfg.URL, err)
	}
	if int64(len(body)) > l.cfg.MaxBytes {
		return "error", false, fmt.Errorf("%w: %s is larger than %d bytes", ErrRevocationFeed, l.cfg.URL, l.cfg.MaxBytes)
	}
	tokens, users, err := parseFeed(body, now.Unix())
	if err != nil {
		return "error", false, fmt.Errorf("%w: %s: %w", ErrRevocationFeed, l.cfg.URL, err)
	}
	l.mu.Lock()
	changed = l.fetchedAt.IsZero() || !maps.Equal(l.tokens, tokens) || !maps.Equal(l.users, users)
	l.tokens, l.users = tokens, users
	l.etag = resp.Header.Get("ETag")
	l.fetchedAt = now
	l.mu.Unlock()
	return "ok", changed, nil
}

// parseFeed reads a [RevocationFeed] document strictly (one JSON object,
// no duplicate or wrongly cased member names) into the maps a list holds:
// token IDs to their expiry, without the entries already expired at now,
// and subjects to their cutoff, the latest when one is listed twice. An
// entry without its key refuses the whole feed.
func parseFeed(body []byte, now int64) (tokens, users map[string]int64, err error) {
	var feed RevocationFeed
	if err := json.Unmarshal(body, &feed); err != nil {
		return nil, nil, err
	}
	tokens = make(map[string]int64, len(feed.Tokens))
	for _, t := range feed.Tokens {
		if t.JTI == "" {
			return nil, nil, errors.New("token entry without jti")
		}
		if t.Exp > now || t.Exp == 0 {
			tokens[t.JTI] = max(tokens[t.JTI], t.Exp)
		}
	}
	users = make(map[string]int64, len(feed.Users))
	for _, u := range feed.Users {
		if u.Sub == "" {
			return nil, nil, errors.New("user entry without sub")
		}
		users[u.Sub] = max(users[u.Sub], u.Before)
	}
	return tokens, users, nil
}

// expire drops token entries past their expiry; l.mu is held.
func (l *RevocationList) expire(now int64) {
	for jti, exp := range l.tokens {
		if exp != 0 && exp <= now {
			delete(l.tokens, jti)
		}
	}
}

// Run fetches the feed at once and then every RevocationConfig.Every until
// ctx ends, and returns only then. Failures keep the last good list;
// [RevocationList.Status] and the Observer report them. Run the loop once
// per list.
func (l *RevocationList) Run(ctx context.Context) {
	t := time.NewTicker(l.cfg.Every)
	defer t.Stop()
	for {
		_ = l.Refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RevocationStatus describes a [RevocationList] for health checks and logs.
type RevocationStatus struct {
	// FetchedAt is when the feed was last fetched successfully (zero:
	// never).
	FetchedAt time.Time
	// Tokens and Users count the entries in force.
	Tokens, Users int
	// Err is the last fetch's error, nil when it succeeded.
	Err error
}

// Status reports the list's state.
func (l *RevocationList) Status() RevocationStatus {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return RevocationStatus{FetchedAt: l.fetchedAt, Tokens: len(l.tokens), Users: len(l.users), Err: l.lastErr}
}

// Check returns an error wrapping [ErrRevoked] when the claims belong to a
// revoked token: its "jti" is listed, or its "sub" has a cutoff and its
// "iat" is before the cutoff (a token without "iat" is refused when its
// subject has a cutoff). Otherwise it returns nil.
func (l *RevocationList) Check(c *jose.Claims) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if c.ID != "" {
		if _, ok := l.tokens[c.ID]; ok {
			return fmt.Errorf("%w: jti %q is in the revocation feed", ErrRevoked, c.ID)
		}
	}
	if c.Subject != "" {
		if before, ok := l.users[c.Subject]; ok && int64(c.IssuedAt) < before {
			return fmt.Errorf("%w: sub %q has tokens issued before %d revoked (iat %d)", ErrRevoked, c.Subject, before, int64(c.IssuedAt))
		}
	}
	return nil
}
