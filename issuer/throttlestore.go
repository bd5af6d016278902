package issuer

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/keyward/keyward"
)

// ThrottleKey derives the key that names the login throttle's buckets in
// the store ([ThrottleConfig.BucketKey]) from the master key with
// HKDF-SHA-256, so that every replica with the master key names a bucket
// alike, and the store holds no username or address, nor anything from
// which one can be tried offline without the master key.
func ThrottleKey(masterKey []byte) ([]byte, error) {
	return masterSubkey(masterKey, "keyward throttle bucket v1", 32)
}

// The kinds of bucket of the login throttle, part of each bucket's name.
const (
	bucketAddress      = "address"       // client network, any account
	bucketNetwork      = "network"       // (account, client network)
	bucketAccount      = "account"       // account ceiling
	bucketKnownBrowser = "known_browser" // (account, known-browser nonce)
	bucketFactor       = "factor"        // second factor, by user ID
)

// loginThrottle takes the login and second-factor tokens of
// [ThrottleConfig] from the store's buckets.
type loginThrottle struct {
	cfg   ThrottleConfig
	store keyward.ThrottleStore
	key   []byte
}

func newLoginThrottle(c ThrottleConfig, store keyward.ThrottleStore, random io.Reader) (*loginThrottle, error) {
	key := c.BucketKey
	if key == nil {
		key = make([]byte, 32)
		if _, err := io.ReadFull(randOrDefault(random), key); err != nil {
			return nil, fmt.Errorf("issuer: reading random bytes: %w", err)
		}
	}
	return &loginThrottle{cfg: c, store: store, key: key}, nil
}

// bucket returns the bucket of the kind for the parts, named by an HMAC
// of both under the throttle's key.
func (t *loginThrottle) bucket(kind string, every time.Duration, burst int, parts ...string) keyward.Bucket {
	mac := hmac.New(sha256.New, t.key)
	mac.Write([]byte(kind))
	for _, p := range parts {
		mac.Write([]byte{0})
		mac.Write([]byte(p))
	}
	return keyward.Bucket{Key: b64url.EncodeToString(mac.Sum(nil)), Every: every, Burst: burst}
}

// take takes one token from each bucket of a login attempt at account
// from network, or from the known browser's bucket alone when browser is
// not empty. It returns zero, or how long to wait when a bucket is empty;
// then no bucket loses a token, so refused attempts from one network do
// not drain the account's ceiling. A store failure is an error.
func (t *loginThrottle) take(ctx context.Context, account, network, browser string, now time.Time) (time.Duration, error) {
	c := t.cfg
	if browser != "" {
		return t.store.TakeBuckets(ctx, now, []keyward.Bucket{
			t.bucket(bucketKnownBrowser, c.KnownBrowserEvery, c.KnownBrowserBurst, account, browser)})
	}
	return t.store.TakeBuckets(ctx, now, []keyward.Bucket{
		t.bucket(bucketAddress, c.AddressEvery, c.AddressBurst, network),
		t.bucket(bucketNetwork, c.NetworkEvery, c.NetworkBurst, account, network),
		t.bucket(bucketAccount, c.AccountEvery, c.AccountBurst, account)})
}

// takeFactor takes one second-factor attempt of the user.
func (t *loginThrottle) takeFactor(ctx context.Context, userID string, now time.Time) (time.Duration, error) {
	c := t.cfg
	return t.store.TakeBuckets(ctx, now, []keyward.Bucket{t.bucket(bucketFactor, c.SecondFactorEvery, c.SecondFactorBurst, userID)})
}

// throttleUnavailable logs a throttle the store could not take from and
// returns the refusal of the attempt: without the buckets nothing bounds
// the guesses, so the attempt is never let through.
func (i *Issuer) throttleUnavailable(ctx context.Context, err error) *Error {
	i.audit(ctx, slog.LevelError, "throttle_failed", slog.String("error", err.Error()))
	return &Error{Code: CodeTemporarilyUnavailable, Description: "the service is temporarily unavailable; retry later", Err: err}
}
