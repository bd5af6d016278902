package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/storage/internal/sqlstore"
)

// backchannelLock is the key of the transaction-level advisory lock that
// QueueBackchannelLogouts holds, so that replicas queueing at once count the
// outbox one after the other and keep it within its limit.
const backchannelLock = 0x6b77_6263 // "kwbc"

// AddSessionClient implements [keyward.BackchannelStore].
func (s *Store) AddSessionClient(ctx context.Context, sessionID, clientID string) error {
	_, err := s.db.Exec(ctx, `INSERT INTO session_clients (session_id, client_id)
		SELECT id, $2 FROM sessions WHERE id = $1 ON CONFLICT DO NOTHING`, sessionID, clientID)
	if err != nil {
		return fmt.Errorf("add session client: %w", err)
	}
	return nil
}

// QueueBackchannelLogouts implements [keyward.BackchannelStore].
func (s *Store) QueueBackchannelLogouts(ctx context.Context, userID, sessionID string, ended time.Time, limit int) (queued, dropped int, err error) {
	at := keyward.StoredTime(ended)
	err = s.tx(ctx, func(tx pgx.Tx) error {
		queued, dropped = 0, 0
		rows, err := tx.Query(ctx, `SELECT sc.session_id, sc.client_id, s.user_id FROM session_clients sc
			JOIN sessions s ON s.id = sc.session_id JOIN clients c ON c.id = sc.client_id
			WHERE (s.id = $1 OR $1 = '' AND s.user_id = $2) AND s.revoked_at = $3 AND s.expires_at > $3
			AND c.backchannel_logout_uri <> '' ORDER BY sc.session_id, sc.client_id`, sessionID, userID, at)
		if err != nil {
			return err
		}
		due, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyward.BackchannelLogout, error) {
			var l keyward.BackchannelLogout
			return l, row.Scan(&l.SessionID, &l.ClientID, &l.UserID)
		})
		if err != nil || len(due) == 0 {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(backchannelLock)); err != nil {
			return err
		}
		var held int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM backchannel_logouts`).Scan(&held); err != nil {
			return err
		}
		for _, l := range due {
			if held+queued >= limit {
				dropped++
				continue
			}
			if _, err := tx.Exec(ctx, `INSERT INTO backchannel_logouts (client_id, user_id, session_id, created_at, attempts, next_attempt_at)
				VALUES ($1, $2, $3, $4, 0, $4)`, l.ClientID, l.UserID, l.SessionID, at); err != nil {
				return err
			}
			queued++
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("queue back-channel logouts: %w", err)
	}
	return queued, dropped, nil
}

// ClaimBackchannelLogouts implements [keyward.BackchannelStore]. SKIP
// LOCKED lets replicas claiming at once take different logouts rather than
// wait for each other.
func (s *Store) ClaimBackchannelLogouts(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]keyward.BackchannelLogout, error) {
	rows, err := s.db.Query(ctx, `UPDATE backchannel_logouts SET attempts = attempts + 1, next_attempt_at = $1
		WHERE id IN (SELECT id FROM backchannel_logouts WHERE next_attempt_at <= $2 ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING `+sqlstore.BackchannelColumns, keyward.StoredTime(now.Add(lease)), keyward.StoredTime(now), max(limit, 0))
	if err != nil {
		return nil, fmt.Errorf("claim back-channel logouts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyward.BackchannelLogout, error) {
		var l keyward.BackchannelLogout
		err := row.Scan(&l.ID, &l.ClientID, &l.UserID, &l.SessionID, tsz{&l.CreatedAt}, &l.Attempts, tsz{&l.NextAttemptAt})
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim back-channel logouts: %w", unavailable(err))
	}
	sqlstore.SortBackchannel(out)
	return out, nil
}

// RetryBackchannelLogout implements [keyward.BackchannelStore].
func (s *Store) RetryBackchannelLogout(ctx context.Context, id int64, next time.Time) error {
	if _, err := s.db.Exec(ctx, `UPDATE backchannel_logouts SET next_attempt_at = $2 WHERE id = $1`, id, keyward.StoredTime(next)); err != nil {
		return fmt.Errorf("retry back-channel logout: %w", err)
	}
	return nil
}

// DeleteBackchannelLogout implements [keyward.BackchannelStore].
func (s *Store) DeleteBackchannelLogout(ctx context.Context, id int64) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM backchannel_logouts WHERE id = $1`, id); err != nil {
		return fmt.Errorf("delete back-channel logout: %w", err)
	}
	return nil
}
