package issuer

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// ThrottleConfig sets the login rate limits, after OWASP's guidance on
// brute force without lockout. Every login attempt, good or bad, takes a
// token from each bucket that applies, all of them or none, before any
// password is hashed, so the limits also cap the CPU and memory an
// attacker can make the issuer spend on argon2id. The buckets are:
//
//   - per (account, client network): one network cannot lock the owner
//     out of an account from another network;
//   - per account, across all networks: a ceiling far above one network's
//     rate, which bounds a distributed guessing attack;
//   - per client network, across all accounts;
//   - per known browser: a browser that presents a valid known-browser
//     cookie for the account (see [Issuer.KnownBrowser]) takes from its
//     own bucket only, so its owner gets through an account that an
//     attack has throttled, and a stolen cookie still gives only that
//     bucket's rate.
//
// A client network is an IPv4 address, or the /64 of an IPv6 address (one
// subscriber's allocation, in which an attacker can draw new addresses at
// will).
//
// With the defaults, one network gets 10 attempts at an account, then one
// a minute (1,440 a day); an attacker over any number of networks gets
// 100 attempts at an account, then one every 6 s (14,400 a day), after
// which the owner signs in with a known-browser cookie, or waits.
//
// The buckets, and the second-factor bucket, live in the store
// ([keyward.ThrottleStore]), so that every issuer on one database (the
// replicas on PostgreSQL) takes from the same buckets: N replicas give an
// attacker the rates above, not N times them. They are named there by an
// HMAC under BucketKey, never by a username or an address. When the store
// cannot take the tokens, the attempt is refused with
// [CodeTemporarilyUnavailable], never let through.
type ThrottleConfig struct {
	// NetworkEvery is the refill interval of an (account, client
	// network) bucket. Zero means 1m.
	NetworkEvery time.Duration
	// NetworkBurst is an (account, client network) bucket's size. Zero
	// means 10.
	NetworkBurst int
	// AccountEvery is the refill interval of an account's ceiling, the
	// bucket every network shares. Zero means 6s (10 attempts a minute
	// sustained).
	AccountEvery time.Duration
	// AccountBurst is an account's ceiling bucket size. Zero means 100.
	AccountBurst int
	// AddressEvery is the refill interval of a client network's bucket,
	// whatever the accounts tried. Zero means 1s.
	AddressEvery time.Duration
	// AddressBurst is a client network's bucket size. Zero means 30.
	AddressBurst int
	// KnownBrowserEvery is the refill interval of a known browser's
	// bucket. Zero means 1m.
	KnownBrowserEvery time.Duration
	// KnownBrowserBurst is a known browser's bucket size. Zero means 10.
	KnownBrowserBurst int
	// KnownBrowserKey is the HMAC key of the known-browser cookies, at
	// least 32 bytes; derive it from the master key with
	// [KnownBrowserKey] so that every replica accepts the cookies of the
	// others and they survive a restart. Nil means a random key drawn by
	// [New]: the cookies then last as long as the process.
	KnownBrowserKey []byte
	// SecondFactorEvery is the refill interval of an account's bucket of
	// second-factor attempts (TOTP and recovery codes), shared by every
	// network and browser: only someone who knows the password reaches
	// it, so it is tight. Zero means 2m: after the burst, 720 codes a day,
	// each matching one of three steps in a million, so a guesser needs
	// over a year for even odds while the owner's failures are logged.
	SecondFactorEvery time.Duration
	// SecondFactorBurst is an account's bucket size of second-factor
	// attempts. Zero means 10.
	SecondFactorBurst int
	// BucketKey is the HMAC key, at least 32 bytes, that names the
	// buckets in the store; derive it from the master key with
	// [ThrottleKey] so that every replica names a bucket alike and they
	// share it. Nil means a random key drawn by [New]: the buckets are
	// then this process's alone (a restart starts them full).
	BucketKey []byte
	// MaxEntries is unused: the login buckets live in the store, which
	// deletes the full ones ([keyward.ThrottleStore.DeleteFullBuckets]).
	//
	// Deprecated: it bounded the in-process buckets of earlier versions;
	// it is kept so that configurations setting it still compile.
	MaxEntries int
	// InsecureDisableThrottle turns throttling off, for load tests only:
	// without it nothing bounds password guessing or the argon2id work an
	// attacker can make the issuer do. The zero value throttles.
	InsecureDisableThrottle bool
}

func (c ThrottleConfig) withDefaults() ThrottleConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	defInt := func(n *int, v int) {
		if *n == 0 {
			*n = v
		}
	}
	def(&c.NetworkEvery, time.Minute)
	defInt(&c.NetworkBurst, 10)
	def(&c.AccountEvery, 6*time.Second)
	defInt(&c.AccountBurst, 100)
	def(&c.AddressEvery, time.Second)
	defInt(&c.AddressBurst, 30)
	def(&c.KnownBrowserEvery, time.Minute)
	defInt(&c.KnownBrowserBurst, 10)
	def(&c.SecondFactorEvery, 2*time.Minute)
	defInt(&c.SecondFactorBurst, 10)
	return c
}

func (c ThrottleConfig) validate() error {
	if c.NetworkEvery < 0 || c.AccountEvery < 0 || c.AddressEvery < 0 || c.KnownBrowserEvery < 0 ||
		c.NetworkBurst < 0 || c.AccountBurst < 0 || c.AddressBurst < 0 || c.KnownBrowserBurst < 0 || c.MaxEntries < 0 ||
		c.SecondFactorEvery < 0 || c.SecondFactorBurst < 0 {
		return errors.New("issuer: negative ThrottleConfig field")
	}
	if c.KnownBrowserKey != nil && len(c.KnownBrowserKey) < 32 {
		return errors.New("issuer: ThrottleConfig.KnownBrowserKey shorter than 32 bytes")
	}
	if c.BucketKey != nil && len(c.BucketKey) < 32 {
		return errors.New("issuer: ThrottleConfig.BucketKey shorter than 32 bytes")
	}
	return nil
}

// bucket names one token bucket of a throttle.
type bucket struct {
	t   *throttle
	key string
}

// takeAll takes one token from every bucket, or none: it returns the
// longest wait of an empty bucket, having given back the tokens taken. The
// buckets are this process's: the token endpoint's
// ([TokenThrottleConfig]), which stay per replica; the login buckets are
// the store's ([loginThrottle]).
func takeAll(now time.Time, buckets ...bucket) time.Duration {
	var (
		wait  time.Duration
		taken = make([]*rate.Reservation, 0, len(buckets))
	)
	for _, b := range buckets {
		r := b.t.limiter(b.key).ReserveN(now, 1)
		if !r.OK() {
			wait = max(wait, time.Hour)
			continue
		}
		if d := r.DelayFrom(now); d > 0 {
			r.CancelAt(now)
			wait = max(wait, d)
			continue
		}
		taken = append(taken, r)
	}
	if wait > 0 {
		for _, r := range taken {
			r.CancelAt(now)
		}
	}
	return wait
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

// limiter returns the bucket of key, made full when it is new (or was
// forgotten).
func (t *throttle) limiter(key string) *rate.Limiter {
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
	return lim
}

// ClientNetwork returns the throttling key of a client address (with or
// without a port): an IPv4 address as itself, an IPv6 address as its /64,
// an IPv4-mapped IPv6 address as the IPv4 address. Anything else is
// returned as it is, cut to 64 bytes.
func ClientNetwork(addr string) string {
	host := hostOf(addr)
	a, err := netip.ParseAddr(host)
	if err != nil {
		if len(host) > 64 {
			host = host[:64]
		}
		return host
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// KnownBrowserTTL is the lifetime of a known-browser cookie: a browser
// that signed in to an account within it is let through the account's
// throttle (see [ThrottleConfig]).
const KnownBrowserTTL = 180 * 24 * time.Hour

// KnownBrowserKey derives the HMAC key of known-browser cookies
// ([ThrottleConfig.KnownBrowserKey]) from the master key with HKDF-SHA-256,
// so that the cookies need no stored secret of their own and whoever holds
// the master key, and only they, can make one.
func KnownBrowserKey(masterKey []byte) ([]byte, error) {
	return masterSubkey(masterKey, "keyward known-browser cookie v1", 32)
}

// masterSubkey derives a key of size bytes from the master key with
// HKDF-SHA-256 under label, which keeps the keys of different uses apart.
func masterSubkey(masterKey []byte, label string, size int) ([]byte, error) {
	if len(masterKey) != MasterKeySize {
		return nil, errors.New("issuer: master key of the wrong size")
	}
	key, err := hkdf.Key(sha256.New, masterKey, nil, label, size)
	if err != nil {
		return nil, fmt.Errorf("issuer: %w", err)
	}
	return key, nil
}

// knownBrowserVersion starts every known-browser cookie value.
const knownBrowserVersion = "kb1"

// maxKnownBrowserLen bounds the cookie values read.
const maxKnownBrowserLen = 128

// KnownBrowser returns the value of a known-browser cookie for the
// account of username, to set on the browser that has just signed in as
// it: "kb1.<nonce>.<expiry>.<mac>", an HMAC-SHA-256 under
// [ThrottleConfig.KnownBrowserKey] of the nonce, the expiry and the
// account's normalised name, which the value does not carry. It lets that
// browser through the account's throttle for [KnownBrowserTTL] (see
// [LoginRequest.KnownBrowser]); it grants nothing else.
func (i *Issuer) KnownBrowser(username string) (string, error) {
	nonce, err := randomString(i.cfg.Rand, 16)
	if err != nil {
		return "", err
	}
	exp := strconv.FormatInt(i.cfg.Now().Add(KnownBrowserTTL).Unix(), 10)
	return knownBrowserVersion + "." + nonce + "." + exp + "." + i.knownBrowserMAC(throttleAccount(username), nonce, exp), nil
}

func (i *Issuer) knownBrowserMAC(account, nonce, exp string) string {
	mac := hmac.New(sha256.New, i.knownBrowserKey)
	mac.Write([]byte(knownBrowserVersion + "\x00" + nonce + "\x00" + exp + "\x00" + account))
	return b64url.EncodeToString(mac.Sum(nil))
}

// knownBrowserID returns the nonce of a known-browser cookie value when
// it is valid for account at now, else "".
func (i *Issuer) knownBrowserID(value, account string, now time.Time) string {
	if value == "" || len(value) > maxKnownBrowserLen {
		return ""
	}
	v, rest, _ := strings.Cut(value, ".")
	nonce, rest, _ := strings.Cut(rest, ".")
	exp, mac, _ := strings.Cut(rest, ".")
	if v != knownBrowserVersion || nonce == "" || mac == "" {
		return ""
	}
	sec, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || !now.Before(time.Unix(sec, 0)) {
		return ""
	}
	if !hmac.Equal([]byte(mac), []byte(i.knownBrowserMAC(account, nonce, exp))) {
		return ""
	}
	return nonce
}

// throttleAccount is the name of an account in the throttle's keys and in
// known-browser cookies: the normalised username, or the typed one folded
// to lower case when it cannot be normalised.
func throttleAccount(typed string) string {
	if n, err := NormalizeUsername(typed); err == nil {
		return n
	}
	return strings.ToLower(typed)
}
