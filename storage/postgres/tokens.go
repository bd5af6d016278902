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

func scanRefresh(row pgx.Row) (keyward.RefreshToken, error) {
	var r keyward.RefreshToken
	err := row.Scan(bytea{&r.Hash}, &r.FamilyID, &r.UserID, &r.ClientID, &r.Scope, sqlstore.JSON{Dst: &r.Audience}, &r.SessionID,
		tsz{&r.IssuedAt}, tsz{&r.ExpiresAt}, tsz{&r.UsedAt}, tsz{&r.RevokedAt})
	return r, notFound(err)
}

// lockFamily takes the transaction-level advisory lock of a refresh-token
// family. Creating a token in a family and revoking the family both hold
// it, so that neither misses the other: without it, a revocation's UPDATE
// would not see a token inserted by a transaction not yet committed, and
// that transaction would not see the revocation's record either.
func lockFamily(ctx context.Context, tx pgx.Tx, familyID string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, familyLockClass, familyID)
	return err
}

// insertRefresh validates and inserts a new token, unless its family was
// revoked; it holds the family's lock until the transaction ends.
func insertRefresh(ctx context.Context, tx pgx.Tx, r keyward.RefreshToken) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if err := lockFamily(ctx, tx, r.FamilyID); err != nil {
		return err
	}
	var revoked bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM revoked_refresh_families WHERE family_id = $1)`,
		r.FamilyID).Scan(&revoked); err != nil {
		return err
	}
	if revoked {
		return fmt.Errorf("family %q: %w", r.FamilyID, keyward.ErrRevoked)
	}
	if r.Audience == nil {
		r.Audience = []string{}
	}
	aud, err := sqlstore.EncodeJSON(r.Audience)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO refresh_tokens (`+sqlstore.RefreshColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		r.Hash, r.FamilyID, r.UserID, r.ClientID, r.Scope, aud, r.SessionID,
		keyward.StoredTime(r.IssuedAt), keyward.StoredTime(r.ExpiresAt), opt(r.UsedAt), opt(r.RevokedAt))
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
	err := s.tx(ctx, func(tx pgx.Tx) error { return insertRefresh(ctx, tx, r) })
	if err != nil {
		return fmt.Errorf("create refresh token: %w", err)
	}
	return nil
}

// RotateRefreshToken implements [keyward.RefreshTokenStore]. The
// transaction first takes the lock of the token's family (a token never
// changes family), before any row lock, as a revocation of the family
// does. The old token is then claimed by one conditional UPDATE (unused,
// not revoked, not expired); concurrent rotations queue on the lock and
// find it used once the winner commits. Only when the UPDATE claims nothing
// is the row read again, locked, to tell the caller why and, on reuse, to
// revoke the family.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash []byte, next keyward.RefreshToken, now time.Time) (keyward.RefreshToken, error) {
	now = keyward.StoredTime(now)
	var (
		old    keyward.RefreshToken
		result error // a refusal that still commits (the family's revocation)
	)
	err := s.tx(ctx, func(tx pgx.Tx) error {
		result = nil
		var family string
		if err := tx.QueryRow(ctx, `SELECT family_id FROM refresh_tokens WHERE hash = $1`, oldHash).Scan(&family); err != nil {
			return notFound(err)
		}
		if err := lockFamily(ctx, tx, family); err != nil {
			return err
		}
		var err error
		old, err = scanRefresh(tx.QueryRow(ctx, `UPDATE refresh_tokens SET used_at = $2
			WHERE hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2
			RETURNING `+sqlstore.RefreshColumns, oldHash, now))
		if err == nil {
			if err := insertRefresh(ctx, tx, old.Successor(next, now)); err != nil {
				old.UsedAt = time.Time{} // rolled back
				return fmt.Errorf("next: %w", err)
			}
			return nil
		}
		if !errors.Is(err, keyward.ErrNotFound) {
			return err
		}
		old, err = scanRefresh(tx.QueryRow(ctx, `SELECT `+sqlstore.RefreshColumns+` FROM refresh_tokens WHERE hash = $1 FOR UPDATE`, oldHash))
		if err != nil {
			return err
		}
		// The row is locked and its state only moves forward, so what is
		// read now explains why the UPDATE claimed nothing.
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
		default:
			return sqlstore.CmpErr(err, keyward.ErrExpired)
		}
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
	r, err := scanRefresh(s.db.QueryRow(ctx, `SELECT `+sqlstore.RefreshColumns+` FROM refresh_tokens WHERE hash = $1`, hash))
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
	_, err := s.db.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $2 WHERE `+column+` = $1 AND revoked_at IS NULL`,
		value, keyward.StoredTime(now))
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
	err := s.tx(ctx, func(tx pgx.Tx) error { return revokeFamily(ctx, tx, familyID, keyward.StoredTime(now)) })
	if err != nil {
		return fmt.Errorf("revoke refresh family: %w", err)
	}
	return nil
}

// revokeFamily takes the family's lock, remembers the family as revoked,
// keeping the first time, and revokes its tokens at now.
func revokeFamily(ctx context.Context, tx pgx.Tx, familyID string, now time.Time) error {
	if err := lockFamily(ctx, tx, familyID); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO revoked_refresh_families (family_id, revoked_at) VALUES ($1, $2)
		ON CONFLICT (family_id) DO NOTHING`, familyID, now); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL`, familyID, now)
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

// deleteExpired deletes the rows of table whose expires_at is at or before now.
func deleteExpired(ctx context.Context, q querier, table string, now time.Time) (int, error) {
	tag, err := q.Exec(ctx, `DELETE FROM `+table+` WHERE expires_at <= $1`, keyward.StoredTime(now))
	if err != nil {
		return 0, fmt.Errorf("delete expired %s: %w", table, err)
	}
	return int(tag.RowsAffected()), nil
}

// DeleteExpiredRefreshTokens implements [keyward.RefreshTokenStore].
func (s *Store) DeleteExpiredRefreshTokens(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		if n, err = deleteExpired(ctx, tx, "refresh_tokens", now); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM revoked_refresh_families WHERE revoked_at <= $1`,
			keyward.StoredTime(now.Add(-keyward.RevokedFamilyRetention)))
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

func scanCode(row pgx.Row) (keyward.AuthCode, error) {
	var c keyward.AuthCode
	err := row.Scan(bytea{&c.Hash}, &c.ClientID, &c.UserID, &c.RedirectURI, &c.Scope, &c.Nonce, &c.CodeChallenge,
		&c.CodeChallengeMethod, &c.SessionID, tsz{&c.AuthTime}, tsz{&c.ExpiresAt}, tsz{&c.UsedAt}, sqlstore.JSON{Dst: &c.AMR}, &c.ACR)
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
	_, err = s.db.Exec(ctx, `INSERT INTO auth_codes (`+sqlstore.CodeColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		c.Hash, c.ClientID, c.UserID, c.RedirectURI, c.Scope, c.Nonce, c.CodeChallenge, c.CodeChallengeMethod,
		c.SessionID, keyward.StoredTime(c.AuthTime), keyward.StoredTime(c.ExpiresAt), opt(c.UsedAt), amr, c.ACR)
	if isUnique(err) {
		return fmt.Errorf("create auth code: %w", keyward.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create auth code: %w", err)
	}
	return nil
}

// ConsumeAuthCode implements [keyward.AuthCodeStore]. The code is claimed by
// one conditional UPDATE; only when it claims nothing is the code read to
// tell the caller why.
func (s *Store) ConsumeAuthCode(ctx context.Context, hash []byte, now time.Time) (keyward.AuthCode, error) {
	now = keyward.StoredTime(now)
	c, err := scanCode(s.db.QueryRow(ctx, `UPDATE auth_codes SET used_at = $2
		WHERE hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING `+sqlstore.CodeColumns, hash, now))
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, keyward.ErrNotFound) {
		return keyward.AuthCode{}, fmt.Errorf("consume auth code: %w", err)
	}
	// A code's state only moves forward (unused to used), so what is read
	// now explains why the UPDATE claimed nothing.
	c, err = scanCode(s.db.QueryRow(ctx, `SELECT `+sqlstore.CodeColumns+` FROM auth_codes WHERE hash = $1`, hash))
	if err != nil {
		return keyward.AuthCode{}, fmt.Errorf("consume auth code: %w", err)
	}
	return c, fmt.Errorf("consume auth code: %w", sqlstore.CmpErr(c.ConsumeError(now), keyward.ErrExpired))
}

// DeleteExpiredAuthCodes implements [keyward.AuthCodeStore].
func (s *Store) DeleteExpiredAuthCodes(ctx context.Context, now time.Time) (int, error) {
	return deleteExpired(ctx, s.db, "auth_codes", now)
}
