package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/storage/internal/sqlstore"
)

func scanKey(sc scanner) (keyward.SigningKey, error) {
	var k keyward.SigningKey
	err := sc.Scan(&k.ID, &k.Algorithm, &k.Purpose, &k.State, blob{&k.PrivateKey}, blob{&k.PublicJWK},
		usec{&k.CreatedAt}, usec{&k.ActivateAt}, usec{&k.RetireAt}, usec{&k.RemoveAt})
	return k, err
}

// listKeys returns the keys in ListKeys order.
func listKeys(ctx context.Context, q querier) ([]keyward.SigningKey, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+sqlstore.KeyColumns+` FROM signing_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanKey)
}

// ListKeys implements [keyward.KeyStore].
func (s *Store) ListKeys(ctx context.Context) ([]keyward.SigningKey, error) {
	keys, err := listKeys(ctx, s.r)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return keys, nil
}

// UpdateKeys implements [keyward.KeyStore]. The transaction begins with
// BEGIN IMMEDIATE, which takes the database's write lock, so it is exclusive
// among the processes sharing the file.
func (s *Store) UpdateKeys(ctx context.Context, fn func(current []keyward.SigningKey) ([]keyward.SigningKey, error)) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		current, err := listKeys(ctx, tx)
		if err != nil {
			return err
		}
		plan, err := sqlstore.PlanKeys(current, fn, s.clock())
		if err != nil {
			return err
		}
		for _, id := range plan.Delete {
			if _, err := tx.ExecContext(ctx, `DELETE FROM signing_keys WHERE id = ?`, id); err != nil {
				return err
			}
		}
		for _, k := range plan.Upsert {
			_, err := tx.ExecContext(ctx, `INSERT INTO signing_keys (`+sqlstore.KeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (id) DO UPDATE SET algorithm = excluded.algorithm, purpose = excluded.purpose, state = excluded.state,
					private_key = excluded.private_key, public_jwk = excluded.public_jwk, created_at = excluded.created_at,
					activate_at = excluded.activate_at, retire_at = excluded.retire_at, remove_at = excluded.remove_at`,
				k.ID, k.Algorithm, string(k.Purpose), string(k.State), optBlob(k.PrivateKey), optBlob(k.PublicJWK), micros(k.CreatedAt),
				optMicros(k.ActivateAt), optMicros(k.RetireAt), optMicros(k.RemoveAt))
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err = keyward.IgnoreNoChange(err); err != nil {
		return fmt.Errorf("update keys: %w", err)
	}
	return nil
}
