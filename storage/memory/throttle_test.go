package memory

import (
	"fmt"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// TestBucketsBounded checks that the memory store's buckets stay bounded
// whatever the number of keys tried: full buckets are dropped as the map
// grows, so it holds about twice the buckets not yet full, not every key
// ever seen.
func TestBucketsBounded(t *testing.T) {
	t.Parallel()
	s := New(Config{})
	t0 := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	const perRound, rounds = 1000, 10
	for r := range rounds {
		now := t0.Add(time.Duration(r) * 2 * time.Second) // the previous round's buckets are full again
		for k := range perRound {
			b := keyward.Bucket{Key: fmt.Sprintf("r%d-k%d", r, k), Every: time.Second, Burst: 1}
			if w, err := s.TakeBuckets(t.Context(), now, []keyward.Bucket{b}); err != nil || w != 0 {
				t.Fatalf("round %d key %d: wait %v, %v", r, k, w, err)
			}
		}
	}
	s.buckets.mu.Lock()
	n := len(s.buckets.tat)
	s.buckets.mu.Unlock()
	if limit := 3 * perRound; n > limit {
		t.Fatalf("%d buckets kept after %d keys, of which at most %d not full: want at most %d", n, perRound*rounds, perRound, limit)
	}
}
