package issuer

import (
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// ThrottleConfig sets the login rate limits: a token bucket per account and
// one per client address. Every login attempt, good or bad, takes a token
// from both before any password is hashed, so the limits also cap the CPU
// and memory an attacker can make the issuer spend on argon2id.
type ThrottleConfig struct {
	// AccountEvery is the refill interval of a username's bucket. Zero
	// means 6s (10 attempts a minute sustained).
	AccountEvery time.Duration
	// AccountBurst is a username's bucket size. Zero means 10.
	AccountBurst int
	// AddressEvery is the refill interval of a client address's bucket.
	// Zero means 1s.
	AddressEvery time.Duration
	// AddressBurst is a client address's bucket size. Zero means 30.
	AddressBurst int
	// MaxEntries bounds how many usernames and how many addresses are
	// tracked, each; the least recently seen are forgotten first, which
	// bounds memory whatever the number of names an attacker tries. Zero
	// means 10000.
	MaxEntries int
	// InsecureDisableThrottle turns throttling off, for load tests only:
	// without it nothing bounds password guessing or the argon2id work an
	// attacker can make the issuer do. The zero value throttles.
	InsecureDisableThrottle bool
}

func (c ThrottleConfig) withDefaults() ThrottleConfig {
	if c.AccountEvery == 0 {
		c.AccountEvery = 6 * time.Second
	}
	if c.AccountBurst == 0 {
		c.AccountBurst = 10
	}
	if c.AddressEvery == 0 {
		c.AddressEvery = time.Second
	}
	if c.AddressBurst == 0 {
		c.AddressBurst = 30
	}
	if c.MaxEntries == 0 {
		c.MaxEntries = 10000
	}
	return c
}

// throttle is a bounded set of token buckets keyed by name.
type throttle struct {
	limit rate.Limit
	burst int
	cache *lru.Cache[string, *rate.Limiter]
}

func newThrottle(every time.Duration, burst, size int) (*throttle, error) {
	c, err := lru.New[string, *rate.Limiter](size)
	if err != nil {
		return nil, err
	}
	return &throttle{limit: rate.Every(every), burst: burst, cache: c}, nil
}

// take takes one token for key at now and returns zero, or how long to wait
// when the bucket is empty (then nothing is taken).
func (t *throttle) take(key string, now time.Time) time.Duration {
	lim, ok := t.cache.Get(key)
	if !ok {
		// Two callers may race to create the bucket; the loser's first
		// attempt is then counted in a bucket that is dropped, which is
		// harmless.
		lim = rate.NewLimiter(t.limit, t.burst)
		if prev, found, _ := t.cache.PeekOrAdd(key, lim); found {
			lim = prev
		}
	}
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return time.Hour
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}
