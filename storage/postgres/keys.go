package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/storage/internal/sqlstore"
)

func scanKey(row pgx.Row) (keyward.SigningKey, error) {
	var k keyward.SigningKey
	err := row.Scan(&k.ID, &k.Algorithm, &k.Purpose, &k.State, bytea{&k.PrivateKey}, bytea{&k.PublicJWK},
		tsz{&k.CreatedAt}, tsz{&k.ActivateAt}, tsz{&k.RetireAt}, tsz{&k.RemoveAt})
	return k, err
}

// listKeys returns the keys in ListKeys order.
func listKeys(ctx context.Context, q querier) ([]keyward.SigningKey, error) {
	rows, err := q.Query(ctx, `SELECT `+sqlstore.KeyColumns+` FROM signing_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyward.SigningKey, error) { return scanKey(row) })
}

// ListKeys implements [keyward.KeyStore].
func (s *Store) ListKeys(ctx context.Context) ([]keyward.SigningKey, error) {
	keys, err := listKeys(ctx, s.db)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return keys, nil
}

// UpdateKeys implements [keyward.KeyStore]. The transaction first takes a
// transaction-level advisory lock (pg_advisory_xact_lock), so it is exclusive
// among all the replicas sharing the database.
func (s *Store) UpdateKeys(ctx context.Context, fn func(current []keyward.SigningKey) ([]keyward.SigningKey, error)) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(keysLock)); err != nil {
			return err
		}
		current, err := listKeys(ctx, tx)
		if err != nil {
			return err
		}
		plan, err := sqlstore.PlanKeys(current, fn, s.clock())
		if err != nil {
			return err
		}
		for _, id := range plan.Delete {
			if _, err := tx.Exec(ctx, `DELETE FROM signing_keys WHERE id = $1`, id); err != nil {
				return err
			}
		}
		for _, k := range plan.Upsert {
			_, err := tx.Exec(ctx, `INSERT INTO signing_keys (`+sqlstore.KeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
				ON CONFLICT (id) DO UPDATE SET algorithm = excluded.algorithm, purpose = excluded.purpose, state = excluded.state,
					private_key = excluded.private_key, public_jwk = excluded.public_jwk, created_at = excluded.created_at,
					activate_at = excluded.activate_at, retire_at = excluded.retire_at, remove_at = excluded.remove_at`,
				k.ID, k.Algorithm, string(k.Purpose), string(k.State), optBytes(k.PrivateKey), optBytes(k.PublicJWK), k.CreatedAt,
				opt(k.ActivateAt), opt(k.RetireAt), opt(k.RemoveAt))
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
