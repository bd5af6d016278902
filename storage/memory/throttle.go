package memory

import (
	"context"
	"sync"
	"time"

	"github.com/keyward/keyward"
)

// minBucketSweep is the number of buckets below which a take never sweeps.
const minBucketSweep = 1024

// buckets holds the token buckets of [keyward.ThrottleStore] by key: the
// bucket's theoretical arrival time. Its zero value is empty and usable.
type buckets struct {
	mu  sync.Mutex
	tat map[string]time.Time
	// sweepAt is the number of buckets at which a take deletes the full
	// ones first: twice the number left by the last sweep, so that memory
	// stays within twice the buckets not yet full, at a cost spread over
	// the takes.
	sweepAt int
}

// TakeBuckets implements [keyward.ThrottleStore], in the process: the
// buckets of one store are shared by every issuer on it, as the rows of
// a SQL store are by every replica.
func (s *Store) TakeBuckets(ctx context.Context, now time.Time, bs []keyward.Bucket) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := keyward.CheckBuckets(bs); err != nil {
		return 0, err
	}
	now = keyward.StoredTime(now)
	b := &s.buckets
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tat == nil {
		b.tat = make(map[string]time.Time)
	}
	if len(b.tat) >= max(b.sweepAt, minBucketSweep) {
		b.deleteFull(now)
		b.sweepAt = 2 * len(b.tat)
	}
	var wait time.Duration
	next := make([]time.Time, len(bs))
	for i, bk := range bs {
		next[i] = bk.Next(b.tat[bk.Key], now)
		wait = max(wait, bk.Wait(next[i], now))
	}
	if wait > 0 {
		return wait, nil
	}
	for i, bk := range bs {
		b.tat[bk.Key] = next[i]
	}
	return 0, nil
}

// DeleteFullBuckets implements [keyward.ThrottleStore].
func (s *Store) DeleteFullBuckets(ctx context.Context, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	b := &s.buckets
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.deleteFull(keyward.StoredTime(now)), nil
}

// deleteFull deletes the buckets full at now; b.mu is held.
func (b *buckets) deleteFull(now time.Time) int {
	n := 0
	for k, tat := range b.tat {
		if !tat.After(now) {
			delete(b.tat, k)
			n++
		}
	}
	return n
}
