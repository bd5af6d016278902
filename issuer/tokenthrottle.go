package issuer

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// TokenThrottleConfig sets the rate limits of refresh (the refresh_token
// grant) and revocation, which write to the store and, for revocation, to
// the public revocation feed: without them one account could grow both
// without bound (a refresh and a revocation of its access token add an
// entry to the feed every time). Each request takes a token from its
// client's bucket and, when it names a refresh-token family, from the
// family's bucket, all or none; an empty bucket answers [CodeSlowDown]
// with RetryAfter, which keyward serve sends as 429 with Retry-After (RFC
// 6585 §4).
//
// The client of a token issued by first-party login ([FirstPartyClientID])
// is the user it was issued to, so that one user cannot slow down the
// others. The defaults are far above what an honest client does (one
// refresh per access-token lifetime per family, a revocation at logout).
type TokenThrottleConfig struct {
	// ClientEvery is the refill interval of a registered client's bucket,
	// shared by all the users of the client. Zero means 20ms (50 requests a
	// second sustained).
	ClientEvery time.Duration
	// ClientBurst is a registered client's bucket size. Zero means 500.
	ClientBurst int
	// UserEvery is the refill interval of the bucket of one user's
	// first-party tokens. Zero means 10s (8,640 a day).
	UserEvery time.Duration
	// UserBurst is the size of a user's first-party bucket. Zero means 30.
	UserBurst int
	// FamilyEvery is the refill interval of a refresh-token family's
	// bucket. Zero means 1m.
	FamilyEvery time.Duration
	// FamilyBurst is a refresh-token family's bucket size. Zero means 10.
	FamilyBurst int
	// MaxEntries bounds how many buckets of each kind are tracked; the
	// least recently seen are forgotten first (and start full again), which
	// bounds memory. Zero means 10000.
	MaxEntries int
	// InsecureDisableThrottle turns these limits off, for load tests only:
	// without them one account can grow the store and the revocation feed
	// without bound. The zero value throttles.
	InsecureDisableThrottle bool
}

func (c TokenThrottleConfig) withDefaults() (TokenThrottleConfig, error) {
	if c.ClientEvery < 0 || c.UserEvery < 0 || c.FamilyEvery < 0 ||
		c.ClientBurst < 0 || c.UserBurst < 0 || c.FamilyBurst < 0 || c.MaxEntries < 0 {
		return c, errors.New("issuer: negative TokenThrottleConfig field")
	}
	if c.ClientEvery == 0 {
		c.ClientEvery = 20 * time.Millisecond
	}
	if c.ClientBurst == 0 {
		c.ClientBurst = 500
	}
	if c.UserEvery == 0 {
		c.UserEvery = 10 * time.Second
	}
	if c.UserBurst == 0 {
		c.UserBurst = 30
	}
	if c.FamilyEvery == 0 {
		c.FamilyEvery = time.Minute
	}
	if c.FamilyBurst == 0 {
		c.FamilyBurst = 10
	}
	if c.MaxEntries == 0 {
		c.MaxEntries = 10000
	}
	return c, nil
}

// tokenThrottle holds the buckets of [TokenThrottleConfig].
type tokenThrottle struct {
	off                        bool
	byClient, byUser, byFamily *throttle
}

func newTokenThrottle(c TokenThrottleConfig) (*tokenThrottle, error) {
	c, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	t := &tokenThrottle{off: c.InsecureDisableThrottle}
	if t.byClient, err = newThrottle(c.ClientEvery, c.ClientBurst, c.MaxEntries); err != nil {
		return nil, err
	}
	if t.byUser, err = newThrottle(c.UserEvery, c.UserBurst, c.MaxEntries); err != nil {
		return nil, err
	}
	if t.byFamily, err = newThrottle(c.FamilyEvery, c.FamilyBurst, c.MaxEntries); err != nil {
		return nil, err
	}
	return t, nil
}

// throttleToken takes the tokens of a refresh or revocation of a token
// issued to clientID for userID (its sub, for first-party tokens) in
// family (empty for an access token), and returns a [CodeSlowDown] error
// when a bucket is empty.
func (i *Issuer) throttleToken(ctx context.Context, op, clientID, userID, family string, now time.Time) error {
	t := i.tokens
	if t.off {
		return nil
	}
	buckets := make([]bucket, 0, 2)
	if clientID == FirstPartyClientID {
		buckets = append(buckets, bucket{t.byUser, userID})
	} else {
		buckets = append(buckets, bucket{t.byClient, clientID})
	}
	if family != "" {
		buckets = append(buckets, bucket{t.byFamily, family})
	}
	wait := takeAll(now, buckets...)
	if wait == 0 {
		return nil
	}
	i.audit(ctx, slog.LevelWarn, "token_throttled", slog.String("operation", op),
		slog.String("client_id", clientID), slog.String("family_id", family))
	return &Error{Code: CodeSlowDown, Description: "too many token requests; retry later", RetryAfter: wait}
}
