package storagetest

import (
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// bucketRacers is how many callers race on one bucket in
// testTakeBucketsBurst.
const bucketRacers = 50

// takeAt takes the buckets at now and fails the test on an error; it
// returns the wait.
func takeAt(t *testing.T, s keyward.ThrottleStore, now time.Time, bs ...keyward.Bucket) time.Duration {
	t.Helper()
	wait, err := s.TakeBuckets(t.Context(), now, bs)
	if err != nil {
		t.Fatalf("TakeBuckets at %v: %v", now, err)
	}
	return wait
}

func throttleTests() []testCase {
	return []testCase{
		{name: "Throttle/Burst", run: func(t *testing.T, s keyward.Store) {
			b := keyward.Bucket{Key: "k", Every: time.Minute, Burst: 3}
			for i := range 3 {
				if w := takeAt(t, s, at(0), b); w != 0 {
					t.Fatalf("take %d of a burst of 3: wait %v, want none", i+1, w)
				}
			}
			if w := takeAt(t, s, at(0), b); w != time.Minute {
				t.Fatalf("take past the burst: wait %v, want 1m", w)
			}
			// A refused take costs nothing: the wait is the same.
			if w := takeAt(t, s, at(20*time.Second), b); w != 40*time.Second {
				t.Fatalf("take 20s later: wait %v, want 40s", w)
			}
			// Another key is another bucket.
			if w := takeAt(t, s, at(0), keyward.Bucket{Key: "other", Every: time.Minute, Burst: 1}); w != 0 {
				t.Fatalf("another key: wait %v, want none", w)
			}
		}},
		{name: "Throttle/Refill", run: func(t *testing.T, s keyward.Store) {
			b := keyward.Bucket{Key: "k", Every: 10 * time.Second, Burst: 2}
			takeAt(t, s, at(0), b)
			takeAt(t, s, at(0), b)
			if w := takeAt(t, s, at(9*time.Second), b); w != time.Second {
				t.Fatalf("after 9s: wait %v, want 1s", w)
			}
			if w := takeAt(t, s, at(10*time.Second), b); w != 0 {
				t.Fatalf("after one interval: wait %v, want none (one token refilled)", w)
			}
			if w := takeAt(t, s, at(10*time.Second), b); w != 10*time.Second {
				t.Fatalf("second take after one interval: wait %v, want 10s", w)
			}
			// Long idle refills to the burst, never beyond.
			for i := range 2 {
				if w := takeAt(t, s, at(time.Hour), b); w != 0 {
					t.Fatalf("take %d after an hour: wait %v, want none", i+1, w)
				}
			}
			if w := takeAt(t, s, at(time.Hour), b); w == 0 {
				t.Fatal("a third take after an hour went through: the bucket refilled beyond its burst")
			}
			// Times with nanoseconds and zones are kept to the microsecond.
			c := keyward.Bucket{Key: "micro", Every: time.Second, Burst: 1}
			takeAt(t, s, at(0).Add(999*time.Nanosecond), c)
			if w := takeAt(t, s, at(time.Second).Add(999*time.Nanosecond), c); w != 0 {
				t.Fatalf("one interval later: wait %v, want none", w)
			}
		}},
		{name: "Throttle/AllOrNone", run: func(t *testing.T, s keyward.Store) {
			wide := keyward.Bucket{Key: "wide", Every: time.Minute, Burst: 5}
			narrow := keyward.Bucket{Key: "narrow", Every: time.Hour, Burst: 1}
			if w := takeAt(t, s, at(0), wide, narrow); w != 0 {
				t.Fatalf("first take of both: wait %v", w)
			}
			// narrow is empty: the take fails with narrow's wait, and wide
			// keeps its token.
			for range 10 {
				if w := takeAt(t, s, at(0), wide, narrow); w != time.Hour {
					t.Fatalf("take with an empty bucket: wait %v, want 1h", w)
				}
			}
			for i := range 4 {
				if w := takeAt(t, s, at(0), wide); w != 0 {
					t.Fatalf("take %d of wide's remaining 4: wait %v: a refused take cost it a token", i+1, w)
				}
			}
			if w := takeAt(t, s, at(0), wide); w != time.Minute {
				t.Fatalf("wide past its burst: wait %v, want 1m", w)
			}
			// The wait is the longest of the empty buckets'.
			if w := takeAt(t, s, at(0), narrow, wide); w != time.Hour {
				t.Fatalf("both empty: wait %v, want 1h", w)
			}
		}},
		{name: "Throttle/Invalid", run: func(t *testing.T, s keyward.Store) {
			ok := keyward.Bucket{Key: "k", Every: time.Second, Burst: 1}
			for _, bs := range [][]keyward.Bucket{
				{{Key: "", Every: time.Second, Burst: 1}},
				{{Key: string(make([]byte, keyward.MaxBucketKeyLen+1)), Every: time.Second, Burst: 1}},
				{{Key: "k", Every: 0, Burst: 1}},
				{{Key: "k", Every: time.Second, Burst: 0}},
				{{Key: "k", Every: time.Hour, Burst: 1 << 30}},
				{ok, ok},
			} {
				_, err := s.TakeBuckets(t.Context(), at(0), bs)
				wantErr(t, "TakeBuckets of an invalid bucket", err, keyward.ErrInvalid)
			}
			// Nothing was taken by the refused calls.
			if w := takeAt(t, s, at(0), ok); w != 0 {
				t.Fatalf("take after invalid calls: wait %v", w)
			}
		}},
		{name: "Throttle/DeleteFull", run: func(t *testing.T, s keyward.Store) {
			short := keyward.Bucket{Key: "short", Every: time.Second, Burst: 1}
			long := keyward.Bucket{Key: "long", Every: time.Hour, Burst: 2}
			takeAt(t, s, at(0), short, long)
			n, err := s.DeleteFullBuckets(t.Context(), at(time.Second))
			must(t, "DeleteFullBuckets", err)
			if n != 1 {
				t.Fatalf("DeleteFullBuckets = %d, want 1 (short, full again)", n)
			}
			// long kept its state: one token left.
			if w := takeAt(t, s, at(time.Second), long); w != 0 {
				t.Fatalf("long after the sweep: wait %v, want none", w)
			}
			if w := takeAt(t, s, at(time.Second), long); w == 0 {
				t.Fatal("long after the sweep took a third token: its row was deleted while not full")
			}
			n, err = s.DeleteFullBuckets(t.Context(), at(3*time.Hour))
			must(t, "DeleteFullBuckets", err)
			if n != 1 {
				t.Fatalf("DeleteFullBuckets later = %d, want 1", n)
			}
		}},
	}
}

// testTakeBucketsBurst races bucketRacers callers, spread over the stores,
// on one full bucket and one bucket each of their own: exactly Burst of
// them take a token, and the refused ones cost their own buckets nothing.
func testTakeBucketsBurst(t *testing.T, stores []keyward.Store) {
	const burst = 7
	shared := keyward.Bucket{Key: "shared", Every: time.Hour, Burst: burst}
	waits := make([]time.Duration, bucketRacers)
	errs := make([]error, bucketRacers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range bucketRacers {
		wg.Go(func() {
			<-start
			own := keyward.Bucket{Key: "own" + string(rune('A'+i)), Every: time.Hour, Burst: 1}
			waits[i], errs[i] = stores[i%len(stores)].TakeBuckets(t.Context(), at(0), []keyward.Bucket{own, shared})
		})
	}
	close(start)
	wg.Wait()
	took := 0
	for i, err := range errs {
		if err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
		if waits[i] == 0 {
			took++
		}
	}
	if took != burst {
		t.Fatalf("%d of %d callers took a token of a bucket of %d", took, bucketRacers, burst)
	}
	if w := takeAt(t, stores[0], at(0), shared); w != time.Hour {
		t.Errorf("shared after the race: wait %v, want 1h", w)
	}
	for i := range bucketRacers {
		own := keyward.Bucket{Key: "own" + string(rune('A'+i)), Every: time.Hour, Burst: 1}
		w := takeAt(t, stores[0], at(0), own)
		if took := waits[i] == 0; took != (w != 0) {
			t.Errorf("caller %d (took %v): its own bucket then waits %v", i, took, w)
		}
	}
}
