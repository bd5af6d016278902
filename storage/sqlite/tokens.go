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

func scanRefresh(sc scanner) (keyward.RefreshToken, error) {
	var r keyward.RefreshToken
	err := sc.Scan(blob{&r.Hash}, &r.FamilyID, &r.UserID, &r.ClientID, &r.Scope, sqlstore.JSON{Dst: &r.Audience}, &r.SessionID,
		usec{&r.IssuedAt}, usec{&r.ExpiresAt}, usec{&r.UsedAt}, usec{&r.RevokedAt})
	return r, notFound(err)
}

// insertRefresh validates and inserts a new token, unless its family was
// revoked. It runs in a write transaction, which holds the database's write
// lock, so no revocation of the family comes between the check and the
// insert.
func insertRefresh(ctx context.Context, tx *sql.Tx, r keyward.RefreshToken) error {
	if err := r.Validate(); err != nil {
		return err
	}
	var revoked bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM revoked_refresh_families WHERE family_id = ?)`,
		r.FamilyID).Scan(&revoked); err != nil {
		return err
	}
	if revoked {
		return fmt.Errorf("family %q: %w", r.FamilyID, keyward.ErrRevoked)
	}
	aud, err := sqlstore.EncodeJSON(r.Audience)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO refresh_tokens (`+sqlstore.RefreshColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Hash, r.FamilyID, r.UserID, r.ClientID, r.Scope, aud, r.SessionID,
		micros(r.IssuedAt), micros(r.ExpiresAt), optMicros(r.UsedAt), optMicros(r.RevokedAt))
	if isUnique(err) {
		return keyward.ErrConflict
	}
	return err
}

// CreateRefreshToken implements [keyward.RefreshTokenStore].
func (s *Store) CreateRefreshToken(ctx context.Context, r keyward.RefreshToken) error {
	if r.IssuedAt.IsZero() {
		r.IssuedAt = s.clock()
	}
	err := s.write(ctx, func(tx *sql.Tx) error { return insertRefresh(ctx, tx, r) })
	if err != nil {
		return fmt.Errorf("create refresh token: %w", err)
	}
	return nil
}

// RotateRefreshToken implements [keyward.RefreshTokenStore]. The write
// transaction holds the database's write lock from its first statement, so
// the check of the old token and its update cannot interleave with another
// rotation.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash []byte, next keyward.RefreshToken, now time.Time) (keyward.RefreshToken, error) {
	now = keyward.StoredTime(now)
	var (
		old    keyward.RefreshToken
		result error // a refusal that still commits (the family's revocation)
	)
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		old, err = scanRefresh(tx.QueryRowContext(ctx, `SELECT `+sqlstore.RefreshColumns+` FROM refresh_tokens WHERE hash = ?`, oldHash))
		if err != nil {
			return err
		}
		switch err := old.RotationError(now); {
		case errors.Is(err, keyward.ErrRefreshReused):
			if err := revokeFamily(ctx, tx, old.FamilyID, now); err != nil {
				return err
			}
			if old.RevokedAt.IsZero() {
				old.RevokedAt = now
			}
			result = err
			return nil
		case err != nil:
			return err
		}
		next = old.Successor(next, now)
		if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET used_at = ? WHERE hash = ?`, micros(now), oldHash); err != nil {
			return err
		}
		if err := insertRefresh(ctx, tx, next); err != nil {
			return fmt.Errorf("next: %w", err)
		}
		old.UsedAt = now
		return nil
	})
	if err == nil {
		err = result
	}
	if errors.Is(err, keyward.ErrNotFound) {
		return keyward.RefreshToken{}, fmt.Errorf("rotate refresh token: %w", err)
	}
	if err != nil {
		return old, fmt.Errorf("rotate refresh token: %w", err)
	}
	return old, nil
}

// GetRefreshToken implements [keyward.RefreshTokenStore].
func (s *Store) GetRefreshToken(ctx context.Context, hash []byte) (keyward.RefreshToken, error) {
	r, err := scanRefresh(s.r.QueryRowContext(ctx, `SELECT `+sqlstore.RefreshColumns+` FROM refresh_tokens WHERE hash = ?`, hash))
	if err != nil {
		return keyward.RefreshToken{}, fmt.Errorf("get refresh token: %w", err)
	}
	return r, nil
}

// revokeRefresh revokes at now the tokens whose column equals value.
func (s *Store) revokeRefresh(ctx context.Context, column, value string, now time.Time) error {
	if value == "" {
		return nil
	}
	_, err := s.w.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = ? WHERE `+column+` = ? AND revoked_at IS NULL`,
		micros(keyward.StoredTime(now)), value)
	if err != nil {
		return fmt.Errorf("revoke refresh tokens by %s: %w", column, err)
	}
	return nil
}

// RevokeRefreshFamily implements [keyward.RefreshTokenStore].
func (s *Store) RevokeRefreshFamily(ctx context.Context, familyID string, now time.Time) error {
	if familyID == "" {
		return nil
	}
	err := s.write(ctx, func(tx *sql.Tx) error { return revokeFamily(ctx, tx, familyID, keyward.StoredTime(now)) })
	if err != nil {
		return fmt.Errorf("revoke refresh family: %w", err)
	}
	return nil
}

// revokeFamily remembers the family as revoked, keeping the first time, and
// revokes its tokens at now.
func revokeFamily(ctx context.Context, tx *sql.Tx, familyID string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO revoked_refresh_families (family_id, revoked_at) VALUES (?, ?)
		ON CONFLICT (family_id) DO NOTHING`, familyID, micros(now)); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL`,
		micros(now), familyID)
	return err
}

// RevokeSessionRefreshTokens implements [keyward.RefreshTokenStore].
func (s *Store) RevokeSessionRefreshTokens(ctx context.Context, sessionID string, now time.Time) error {
	return s.revokeRefresh(ctx, "session_id", sessionID, now)
}

// RevokeUserRefreshTokens implements [keyward.RefreshTokenStore].
func (s *Store) RevokeUserRefreshTokens(ctx context.Context, userID string, now time.Time) error {
	return s.revokeRefresh(ctx, "user_id", userID, now)
}

// deleteExpired deletes the rows of table whose column is at or before now.
func (s *Store) deleteExpired(ctx context.Context, q querier, table, column string, now time.Time) (int, error) {
	res, err := q.ExecContext(ctx, `DELETE FROM `+table+` WHERE `+column+` <= ?`, micros(keyward.StoredTime(now)))
	if err != nil {
		return 0, fmt.Errorf("delete expired %s: %w", table, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete expired %s: %w", table, err)
	}
	return int(n), nil
}

// DeleteExpiredRefreshTokens implements [keyward.RefreshTokenStore].
func (s *Store) DeleteExpiredRefreshTokens(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		if n, err = s.deleteExpired(ctx, tx, "refresh_tokens", "expires_at", now); err != nil {
			return err
		}
		_, err = s.deleteExpired(ctx, tx, "revoked_refresh_families", "revoked_at", now.Add(-keyward.RevokedFamilyRetention))
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

func scanCode(sc scanner) (keyward.AuthCode, error) {
	var c keyward.AuthCode
	err := sc.Scan(blob{&c.Hash}, &c.ClientID, &c.UserID, &c.RedirectURI, &c.Scope, &c.Nonce, &c.CodeChallenge,
		&c.CodeChallengeMethod, &c.SessionID, usec{&c.AuthTime}, usec{&c.ExpiresAt}, usec{&c.UsedAt}, sqlstore.JSON{Dst: &c.AMR}, &c.ACR)
	return c, notFound(err)
}

// CreateAuthCode implements [keyward.AuthCodeStore].
func (s *Store) CreateAuthCode(ctx context.Context, c keyward.AuthCode) error {
	if len(c.Hash) == 0 {
		return fmt.Errorf("create auth code: empty hash: %w", keyward.ErrInvalid)
	}
	amr, err := sqlstore.EncodeJSON(sqlstore.Strings(c.AMR))
	if err != nil {
		return fmt.Errorf("create auth code: %w", err)
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO auth_codes (`+sqlstore.CodeColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Hash, c.ClientID, c.UserID, c.RedirectURI, c.Scope, c.Nonce, c.CodeChallenge, c.CodeChallengeMethod,
		c.SessionID, micros(c.AuthTime), micros(c.ExpiresAt), optMicros(c.UsedAt), amr, c.ACR)
	if isUnique(err) {
		return fmt.Errorf("create auth code: %w", keyward.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create auth code: %w", err)
	}
	return nil
}

// ConsumeAuthCode implements [keyward.AuthCodeStore].
func (s *Store) ConsumeAuthCode(ctx context.Context, hash []byte, now time.Time) (keyward.AuthCode, error) {
	now = keyward.StoredTime(now)
	var c keyward.AuthCode
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		c, err = scanCode(tx.QueryRowContext(ctx, `SELECT `+sqlstore.CodeColumns+` FROM auth_codes WHERE hash = ?`, hash))
		if err != nil {
			return err
		}
		if err := c.ConsumeError(now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE auth_codes SET used_at = ? WHERE hash = ?`, micros(now), hash); err != nil {
			return err
		}
		c.UsedAt = now
		return nil
	})
	if err != nil {
		return c, fmt.Errorf("consume auth code: %w", err)
	}
	return c, nil
}

// DeleteExpiredAuthCodes implements [keyward.AuthCodeStore].
func (s *Store) DeleteExpiredAuthCodes(ctx context.Context, now time.Time) (int, error) {
	return s.deleteExpired(ctx, s.w, "auth_codes", "expires_at", now)
}
