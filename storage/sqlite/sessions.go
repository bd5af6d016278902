package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/storage/internal/sqlstore"
)

// scanSession reads a row of sqlstore.SessionColumns. A session opened by a release
// without the cookie_hash and auth_time columns has NULL in them: no cookie
// hash, and its creation as its last login.
func scanSession(row scanner) (keyward.Session, error) {
	var v keyward.Session
	err := row.Scan(&v.ID, &v.CookieHash, &v.UserID, usec{&v.CreatedAt}, usec{&v.AuthTime}, usec{&v.ExpiresAt}, usec{&v.RevokedAt},
		sqlstore.JSON{Dst: &v.AMR}, &v.ACR, usec{&v.LastUsedAt}, &v.Device)
	if err != nil {
		return keyward.Session{}, notFound(err)
	}
	if len(v.CookieHash) == 0 {
		v.CookieHash = nil
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
	_, err = s.w.ExecContext(ctx, `INSERT INTO sessions (`+sqlstore.SessionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		v.ID, v.CookieHash, v.UserID, micros(v.CreatedAt), micros(v.AuthTime), micros(v.ExpiresAt), optMicros(v.RevokedAt),
		amr, v.ACR, optMicros(v.LastUsedAt), v.Device)
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
	v, err := scanSession(s.r.QueryRowContext(ctx, `SELECT `+sqlstore.SessionColumns+` FROM sessions WHERE id = ?`, id))
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
	v, err := scanSession(s.r.QueryRowContext(ctx, `SELECT `+sqlstore.SessionColumns+` FROM sessions WHERE cookie_hash = ?`, hash))
	if err != nil {
		return keyward.Session{}, fmt.Errorf("get session by cookie: %w", err)
	}
	return v, nil
}

// UpdateSession implements [keyward.SessionStore].
func (s *Store) UpdateSession(ctx context.Context, id string, fn func(*keyward.Session) error) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		old, err := scanSession(tx.QueryRowContext(ctx, `SELECT `+sqlstore.SessionColumns+` FROM sessions WHERE id = ?`, id))
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
		_, err = tx.ExecContext(ctx, `UPDATE sessions SET cookie_hash = ?, auth_time = ?, expires_at = ?, amr = ?, acr = ?, last_used_at = ? WHERE id = ?`,
			v.CookieHash, micros(keyward.StoredTime(v.AuthTime)), micros(keyward.StoredTime(v.ExpiresAt)), amr, v.ACR,
			optMicros(keyward.StoredTime(v.LastUsedAt)), id)
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
	err := s.write(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM sessions WHERE id = ?`, id).Scan(&one); err != nil {
			return notFound(err)
		}
		_, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, micros(keyward.StoredTime(now)), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	return nil
}

// RevokeUserSessions implements [keyward.SessionStore].
func (s *Store) RevokeUserSessions(ctx context.Context, userID string, now time.Time) error {
	_, err := s.w.ExecContext(ctx, `UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`, micros(keyward.StoredTime(now)), userID)
	if err != nil {
		return fmt.Errorf("revoke user sessions: %w", err)
	}
	return nil
}

// ListUserSessions implements [keyward.SessionStore].
func (s *Store) ListUserSessions(ctx context.Context, userID string, now time.Time) ([]keyward.Session, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqlstore.SessionColumns+` FROM sessions
		WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? ORDER BY created_at DESC, id`, userID, micros(keyward.StoredTime(now)))
	if err != nil {
		return nil, fmt.Errorf("list user sessions: %w", err)
	}
	out, err := collect(rows, scanSession)
	if err != nil {
		return nil, fmt.Errorf("list user sessions: %w", err)
	}
	return out, nil
}

// DeleteExpiredSessions implements [keyward.SessionStore].
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	return s.deleteExpired(ctx, s.w, "sessions", "expires_at", now)
}
