package postgres

import (
	"context"
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
	_, err := s.pool.Exec(ctx, `INSERT INTO sessions (id, user_id, created_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5)`,
		v.ID, v.UserID, norm(v.CreatedAt), norm(v.ExpiresAt), opt(v.RevokedAt))
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
	err := s.pool.QueryRow(ctx, `SELECT id, user_id, created_at, expires_at, revoked_at FROM sessions WHERE id = $1`, id).
		Scan(&v.ID, &v.UserID, tsz{&v.CreatedAt}, tsz{&v.ExpiresAt}, tsz{&v.RevokedAt})
	if err != nil {
		return keyward.Session{}, fmt.Errorf("get session: %w", notFound(err))
	}
	return v, nil
}

// RevokeSession implements [keyward.SessionStore].
func (s *Store) RevokeSession(ctx context.Context, id string, now time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE sessions SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1`, id, norm(now))
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("revoke session: %w", keyward.ErrNotFound)
	}
	return nil
}

// RevokeUserSessions implements [keyward.SessionStore].
func (s *Store) RevokeUserSessions(ctx context.Context, userID string, now time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`, userID, norm(now))
	if err != nil {
		return fmt.Errorf("revoke user sessions: %w", err)
	}
	return nil
}

// DeleteExpiredSessions implements [keyward.SessionStore].
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	return deleteExpired(ctx, s.pool, "sessions", now)
}
