package sqlstore

import (
	"errors"
	"slices"
	"strings"

	"github.com/keyward/keyward"
)

// ErrBucketsEmpty is returned by a backend's transaction function of
// [keyward.ThrottleStore.TakeBuckets] when a bucket lacks its token, so
// that the transaction rolls back and no bucket loses one; the backend
// then answers with the wait, not an error.
var ErrBucketsEmpty = errors.New("sqlstore: a bucket is empty")

// SortedBuckets checks the buckets of a take ([keyward.CheckBuckets]) and
// returns them sorted by key, the order in which a backend locks their
// rows, so that two takes sharing buckets never wait for each other in a
// cycle.
func SortedBuckets(bs []keyward.Bucket) ([]keyward.Bucket, error) {
	if err := keyward.CheckBuckets(bs); err != nil {
		return nil, err
	}
	out := slices.Clone(bs)
	slices.SortFunc(out, func(a, b keyward.Bucket) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}
