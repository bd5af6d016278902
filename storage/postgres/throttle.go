package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/storage/internal/sqlstore"
)

// TakeBuckets implements [keyward.ThrottleStore]: in one transaction, one
// upsert moves every bucket's time, locking the rows in key order (so
// replicas taking the same buckets queue, never deadlock), and the
// transaction rolls back when a bucket lacks its token.
func (s *Store) TakeBuckets(ctx context.Context, now time.Time, bs []keyward.Bucket) (time.Duration, error) {
	bs, err := sqlstore.SortedBuckets(bs)
	if err != nil {
		return 0, fmt.Errorf("take buckets: %w", err)
	}
	now = keyward.StoredTime(now)
	keys := make([]string, len(bs))
	every := make([]int64, len(bs))
	for i, b := range bs {
		keys[i], every[i] = b.Key, b.Every.Microseconds()
	}
	var wait time.Duration
	err = s.tx(ctx, func(tx pgx.Tx) error {
		wait = 0
		rows, err := tx.Query(ctx, `INSERT INTO throttle_buckets AS b (key, tat)
			SELECT k, $3 + e FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS t(k, e, n) ORDER BY n
			ON CONFLICT (key) DO UPDATE SET tat = GREATEST(b.tat, $3) + excluded.tat - $3
			RETURNING key, tat`, keys, every, now.UnixMicro())
		if err != nil {
			return err
		}
		got := make(map[string]int64, len(bs))
		for rows.Next() {
			var (
				k   string
				tat int64
			)
			if err := rows.Scan(&k, &tat); err != nil {
				rows.Close()
				return err
			}
			got[k] = tat
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, b := range bs {
			tat, ok := got[b.Key]
			if !ok {
				return fmt.Errorf("bucket %q not returned", b.Key)
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
	tag, err := s.db.Exec(ctx, `DELETE FROM throttle_buckets WHERE tat <= $1`, keyward.StoredTime(now).UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("delete full buckets: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
