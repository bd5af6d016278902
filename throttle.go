package keyward

import (
	"context"
	"fmt"
	"time"
)

// MaxBucketKeyLen bounds the length of a [Bucket] key.
const MaxBucketKeyLen = 128

// Bucket names one token bucket of a rate limit kept by a [ThrottleStore]
// and sets its rate: Burst tokens, one more every Every. The store keeps
// one value per key, the bucket's theoretical arrival time (the generic
// cell rate algorithm, GCRA): the time at which the bucket is full again,
// so that a bucket never seen, or full, needs no row.
type Bucket struct {
	// Key names the bucket; the issuer passes a keyed hash, never a raw
	// username or address. At most [MaxBucketKeyLen] bytes, not empty.
	Key string
	// Every is the refill interval, at least a microsecond.
	Every time.Duration
	// Burst is the bucket's size, at least 1.
	Burst int
}

// Validate checks a bucket before a store keeps it: a key of 1 to
// [MaxBucketKeyLen] bytes, Every of at least a microsecond (the stores'
// precision) and a Burst of at least 1 whose span Burst×Every stays under
// a hundred years. It returns an error wrapping [ErrInvalid] otherwise.
func (b Bucket) Validate() error {
	if b.Key == "" || len(b.Key) > MaxBucketKeyLen || b.Every < time.Microsecond || b.Burst < 1 ||
		int64(b.Burst) > int64(100*365*24*time.Hour/b.Every) {
		return fmt.Errorf("bucket %q: empty or long key, Every %s or Burst %d out of range: %w", b.Key, b.Every, b.Burst, ErrInvalid)
	}
	return nil
}

// Next returns the bucket's theoretical arrival time once one token is
// taken at now from a bucket whose stored time is tat (the zero time for a
// bucket with no row): the later of tat and now, plus Every. Every
// backend computes it so (the SQL ones in their statement), in
// microseconds.
func (b Bucket) Next(tat, now time.Time) time.Time {
	if tat.Before(now) {
		tat = now
	}
	return StoredTime(tat.Add(b.Every))
}

// Wait returns how long after now a take that would move the bucket's
// time to next must wait: zero when the bucket holds the token (next is
// at most Burst×Every after now), else how long until it does.
func (b Bucket) Wait(next, now time.Time) time.Duration {
	return max(next.Sub(now)-time.Duration(b.Burst)*b.Every, 0)
}

// ThrottleStore keeps token buckets that every issuer replica on the
// store shares, so that N replicas give an attacker the rate of one, not N
// times it.
type ThrottleStore interface {
	// TakeBuckets takes one token from each of the buckets at now, all of
	// them or none, atomically with respect to every other call on any
	// replica: it returns zero when it took them, else the longest wait of
	// an empty bucket ([Bucket.Wait]), having changed nothing. Of N
	// concurrent calls on one key of a full bucket, exactly Burst succeed.
	// A bucket that fails [Bucket.Validate], or two buckets with one key,
	// give an error wrapping [ErrInvalid]; a store that cannot answer
	// gives an error, and the caller must then refuse the attempt, never
	// let it through.
	TakeBuckets(ctx context.Context, now time.Time, buckets []Bucket) (time.Duration, error)
	// DeleteFullBuckets deletes the buckets full at now (whose time is not
	// after now), which a take treats as new, and returns how many.
	DeleteFullBuckets(ctx context.Context, now time.Time) (int, error)
}

// CheckBuckets validates the buckets of one [ThrottleStore.TakeBuckets]
// call: each one ([Bucket.Validate]) and their keys, which must differ.
func CheckBuckets(buckets []Bucket) error {
	for i, b := range buckets {
		if err := b.Validate(); err != nil {
			return err
		}
		for _, o := range buckets[:i] {
			if o.Key == b.Key {
				return fmt.Errorf("bucket %q twice: %w", b.Key, ErrInvalid)
			}
		}
	}
	return nil
}
