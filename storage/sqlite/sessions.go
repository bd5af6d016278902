package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/keyward/keyward"
)

// CreateSession implements [keyward.SessionStore].
func (s *Store) CreateSession(ctx context.Context, v keyward.Session) error {
	if v.ID == "" {
		return fmt.Errorf("create session: empty id: %w", keyward.ErrInvalid)
	}
	if v.CreatedAt.IsZero() {
		v.CreatedAt = s.clock()
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO sessions (id, user_id, created_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?)`,
		v.ID, v.UserID, micros(v.CreatedAt), micros(v.ExpiresAt), optMicros(v.RevokedAt))
	if isUnique(err) {
		return fmt.Errorf("create session: %w", keyward.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// GetSession implements [keyward.SessionStore].
func (s *Store) GetSession(ctx context.Context, id string) (keyward.Session, error) {
	var v keyward.Session
	err := s.r.QueryRowContext(ctx, `SELECT id, user_id, created_at, expires_at, revoked_at FROM sessions WHERE id = ?`, id).
		Scan(&v.ID, &v.UserID, usec{&v.CreatedAt}, usec{&v.ExpiresAt}, usec{&v.RevokedAt})
	if err != nil {
		return keyward.Session{}, fmt.Errorf("get session: %w", notFound(err))
	}
	return v, nil
}

// RevokeSession implements [keyward.SessionStore].
func (s *Store) RevokeSession(ctx context.Context, id string, now time.Time) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM sessions WHERE id = ?`, id).Scan(&one); err != nil {
			return notFound(err)
		}
		_, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, micros(norm(now)), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	return nil
}

// RevokeUserSessions implements [keyward.SessionStore].
func (s *Store) RevokeUserSessions(ctx context.Context, userID string, now time.Time) error {
	_, err := s.w.ExecContext(ctx, `UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`, micros(norm(now)), userID)
	if err != nil {
		return fmt.Errorf("revoke user sessions: %w", err)
	}
	return nil
}

// DeleteExpiredSessions implements [keyward.SessionStore].
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	return s.deleteExpired(ctx, s.w, "sessions", "expires_at", now)
}
