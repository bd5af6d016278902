package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/storage/internal/sqlstore"
)

// TakeBuckets implements [keyward.ThrottleStore]: one write transaction
// (SQLite runs one at a time) moves each bucket's time with one upsert,
// and rolls back when a bucket lacks its token.
func (s *Store) TakeBuckets(ctx context.Context, now time.Time, bs []keyward.Bucket) (time.Duration, error) {
	bs, err := sqlstore.SortedBuckets(bs)
	if err != nil {
		return 0, fmt.Errorf("take buckets: %w", err)
	}
	now = keyward.StoredTime(now)
	var wait time.Duration
	err = s.write(ctx, func(tx *sql.Tx) error {
		wait = 0
		for _, b := range bs {
			every := b.Every.Microseconds()
			var tat int64
			if err := tx.QueryRowContext(ctx, `INSERT INTO throttle_buckets (key, tat) VALUES (?, ?)
				ON CONFLICT (key) DO UPDATE SET tat = max(tat, ?) + ? RETURNING tat`,
				b.Key, micros(now)+every, micros(now), every).Scan(&tat); err != nil {
				return err
			}
			wait = max(wait, b.Wait(time.UnixMicro(tat), now))
		}
		if wait > 0 {
			return sqlstore.ErrBucketsEmpty
		}
		return nil
	})
	switch {
	case errors.Is(err, sqlstore.ErrBucketsEmpty):
		return wait, nil
	case err != nil:
		return 0, fmt.Errorf("take buckets: %w", err)
	}
	return 0, nil
}

// DeleteFullBuckets implements [keyward.ThrottleStore].
func (s *Store) DeleteFullBuckets(ctx context.Context, now time.Time) (int, error) {
	return s.deleteExpired(ctx, s.w, "throttle_buckets", "tat", now)
}
