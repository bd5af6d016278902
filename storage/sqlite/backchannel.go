package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/storage/internal/sqlstore"
)

func scanBackchannel(sc scanner) (keyward.BackchannelLogout, error) {
	var l keyward.BackchannelLogout
	err := sc.Scan(&l.ID, &l.ClientID, &l.UserID, &l.SessionID, usec{&l.CreatedAt}, &l.Attempts, usec{&l.NextAttemptAt})
	return l, err
}

// AddSessionClient implements [keyward.BackchannelStore].
func (s *Store) AddSessionClient(ctx context.Context, sessionID, clientID string) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO session_clients (session_id, client_id)
		SELECT id, ? FROM sessions WHERE id = ? ON CONFLICT DO NOTHING`, clientID, sessionID)
	if err != nil {
		return fmt.Errorf("add session client: %w", err)
	}
	return nil
}

// QueueBackchannelLogouts implements [keyward.BackchannelStore].
func (s *Store) QueueBackchannelLogouts(ctx context.Context, userID, sessionID string, ended time.Time, limit int) (queued, dropped int, err error) {
	at := micros(keyward.StoredTime(ended))
	err = s.write(ctx, func(tx *sql.Tx) error {
		queued, dropped = 0, 0
		rows, err := tx.QueryContext(ctx, `SELECT sc.session_id, sc.client_id, s.user_id FROM session_clients sc
			JOIN sessions s ON s.id = sc.session_id JOIN clients c ON c.id = sc.client_id
			WHERE (s.id = ? OR ? = '' AND s.user_id = ?) AND s.revoked_at = ? AND s.expires_at > ?
			AND c.backchannel_logout_uri <> '' ORDER BY sc.session_id, sc.client_id`, sessionID, sessionID, userID, at, at)
		if err != nil {
			return err
		}
		due, err := collect(rows, func(sc scanner) (keyward.BackchannelLogout, error) {
			var l keyward.BackchannelLogout
			return l, sc.Scan(&l.SessionID, &l.ClientID, &l.UserID)
		})
		if err != nil {
			return err
		}
		if len(due) == 0 {
			return nil
		}
		var held int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM backchannel_logouts`).Scan(&held); err != nil {
			return err
		}
		for _, l := range due {
			if held+queued >= limit {
				dropped++
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO backchannel_logouts (client_id, user_id, session_id, created_at, attempts, next_attempt_at)
				VALUES (?, ?, ?, ?, 0, ?)`, l.ClientID, l.UserID, l.SessionID, at, at); err != nil {
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

// ClaimBackchannelLogouts implements [keyward.BackchannelStore].
func (s *Store) ClaimBackchannelLogouts(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]keyward.BackchannelLogout, error) {
	var out []keyward.BackchannelLogout
	err := s.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE backchannel_logouts SET attempts = attempts + 1, next_attempt_at = ?
			WHERE id IN (SELECT id FROM backchannel_logouts WHERE next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?)
			RETURNING `+sqlstore.BackchannelColumns, micros(keyward.StoredTime(now.Add(lease))), micros(keyward.StoredTime(now)), max(limit, 0))
		if err != nil {
			return err
		}
		out, err = collect(rows, scanBackchannel)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim back-channel logouts: %w", err)
	}
	sqlstore.SortBackchannel(out)
	return out, nil
}

// RetryBackchannelLogout implements [keyward.BackchannelStore].
func (s *Store) RetryBackchannelLogout(ctx context.Context, id int64, next time.Time) error {
	if _, err := s.w.ExecContext(ctx, `UPDATE backchannel_logouts SET next_attempt_at = ? WHERE id = ?`, micros(keyward.StoredTime(next)), id); err != nil {
		return fmt.Errorf("retry back-channel logout: %w", err)
	}
	return nil
}

// DeleteBackchannelLogout implements [keyward.BackchannelStore].
func (s *Store) DeleteBackchannelLogout(ctx context.Context, id int64) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM backchannel_logouts WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete back-channel logout: %w", err)
	}
	return nil
}
