package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/storage/internal/sqlstore"
)

// scanSession reads a row of sqlstore.SessionColumns. A session opened by a release
// without the cookie_hash and auth_time columns has NULL in them: no cookie
// hash, and its creation as its last login.
func scanSession(row pgx.Row) (keyward.Session, error) {
	var v keyward.Session
	err := row.Scan(&v.ID, bytea{&v.CookieHash}, &v.UserID, tsz{&v.CreatedAt}, tsz{&v.AuthTime}, tsz{&v.ExpiresAt}, tsz{&v.RevokedAt},
		sqlstore.JSON{Dst: &v.AMR}, &v.ACR, tsz{&v.LastUsedAt}, &v.Device)
	if err != nil {
		return keyward.Session{}, notFound(err)
	}
	if v.AuthTime.IsZero() {
		v.AuthTime = v.CreatedAt
	}
	return v, nil
}

// CreateSession implements [keyward.SessionStore].
func (s *Store) CreateSession(ctx context.Context, v keyward.Session) error {
	if err := v.Validate(); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	if v.CreatedAt.IsZero() {
		v.CreatedAt = s.clock()
	}
	if v.AuthTime.IsZero() {
		v.AuthTime = v.CreatedAt
	}
	amr, err := sqlstore.EncodeJSON(sqlstore.Strings(v.AMR))
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	_, err = s.db.Exec(ctx, `INSERT INTO sessions (`+sqlstore.SessionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		v.ID, v.CookieHash, v.UserID, keyward.StoredTime(v.CreatedAt), keyward.StoredTime(v.AuthTime), keyward.StoredTime(v.ExpiresAt), opt(v.RevokedAt),
		amr, v.ACR, opt(v.LastUsedAt), v.Device)
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
	v, err := scanSession(s.db.QueryRow(ctx, `SELECT `+sqlstore.SessionColumns+` FROM sessions WHERE id = $1`, id))
	if err != nil {
		return keyward.Session{}, fmt.Errorf("get session: %w", err)
	}
	return v, nil
}

// GetSessionByCookie implements [keyward.SessionStore].
func (s *Store) GetSessionByCookie(ctx context.Context, hash []byte) (keyward.Session, error) {
	if len(hash) == 0 {
		return keyward.Session{}, fmt.Errorf("get session by cookie: %w", keyward.ErrNotFound)
	}
	v, err := scanSession(s.db.QueryRow(ctx, `SELECT `+sqlstore.SessionColumns+` FROM sessions WHERE cookie_hash = $1`, hash))
	if err != nil {
		return keyward.Session{}, fmt.Errorf("get session by cookie: %w", err)
	}
	return v, nil
}

// UpdateSession implements [keyward.SessionStore]. The row is locked (SELECT
// ... FOR UPDATE) while fn runs, so that of two replicas renewing one session
// with the same cookie, the second sees the first one's cookie hash.
func (s *Store) UpdateSession(ctx context.Context, id string, fn func(*keyward.Session) error) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		old, err := scanSession(tx.QueryRow(ctx, `SELECT `+sqlstore.SessionColumns+` FROM sessions WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		v := old
		v.CookieHash = append([]byte(nil), old.CookieHash...)
		if err := fn(&v); err != nil {
			return err
		}
		if err := keyward.CheckSessionUpdate(old, v); err != nil {
			return err
		}
		amr, err := sqlstore.EncodeJSON(sqlstore.Strings(v.AMR))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE sessions SET cookie_hash = $2, auth_time = $3, expires_at = $4, amr = $5, acr = $6, last_used_at = $7 WHERE id = $1`,
			id, v.CookieHash, keyward.StoredTime(v.AuthTime), keyward.StoredTime(v.ExpiresAt), amr, v.ACR, opt(v.LastUsedAt))
		if isUnique(err) {
			return fmt.Errorf("cookie hash: %w", keyward.ErrConflict)
		}
		return err
	})
	if err = keyward.IgnoreNoChange(err); err != nil {
		return fmt.Errorf("update session %q: %w", id, err)
	}
	return nil
}

// RevokeSession implements [keyward.SessionStore].
func (s *Store) RevokeSession(ctx context.Context, id string, now time.Time) error {
	tag, err := s.db.Exec(ctx, `UPDATE sessions SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1`, id, keyward.StoredTime(now))
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
	_, err := s.db.Exec(ctx, `UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`, userID, keyward.StoredTime(now))
	if err != nil {
		return fmt.Errorf("revoke user sessions: %w", err)
	}
	return nil
}

// ListUserSessions implements [keyward.SessionStore].
func (s *Store) ListUserSessions(ctx context.Context, userID string, now time.Time) ([]keyward.Session, error) {
	rows, err := s.db.Query(ctx, `SELECT `+sqlstore.SessionColumns+` FROM sessions
		WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at DESC, id`, userID, keyward.StoredTime(now))
	if err != nil {
		return nil, fmt.Errorf("list user sessions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyward.Session, error) { return scanSession(row) })
	if err != nil {
		return nil, fmt.Errorf("list user sessions: %w", err)
	}
	return out, nil
}

// DeleteExpiredSessions implements [keyward.SessionStore].
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	return deleteExpired(ctx, s.db, "sessions", now)
}
