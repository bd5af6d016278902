package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/keyward/keyward"
)

// RevokeAccessToken implements [keyward.RevocationStore].
func (s *Store) RevokeAccessToken(ctx context.Context, t keyward.RevokedToken) error {
	if t.JTI == "" {
		return fmt.Errorf("revoke access token: empty jti: %w", keyward.ErrInvalid)
	}
	if t.RevokedAt.IsZero() {
		t.RevokedAt = s.clock()
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		var covered bool
		err := tx.QueryRowContext(ctx, `INSERT INTO revoked_tokens (jti, expires_at, revoked_at, subject) VALUES (?, ?, ?, ?)
			ON CONFLICT (jti) DO NOTHING RETURNING `+tokenCovered,
			t.JTI, micros(t.ExpiresAt), micros(t.RevokedAt), t.Subject).Scan(&covered)
		if errors.Is(err, sql.ErrNoRows) || covered {
			return nil // revoked already, or refused by the subject's cutoff
		}
		if err != nil {
			return err
		}
		return appendChange(ctx, tx, keyward.RevocationToken, t.JTI, micros(t.ExpiresAt))
	})
	if err != nil {
		return fmt.Errorf("revoke access token: %w", err)
	}
	return nil
}

// IsAccessTokenRevoked implements [keyward.RevocationStore].
func (s *Store) IsAccessTokenRevoked(ctx context.Context, jti string) (bool, error) {
	var revoked bool
	err := s.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = ?)`, jti).Scan(&revoked)
	if err != nil {
		return false, fmt.Errorf("is access token revoked: %w", err)
	}
	return revoked, nil
}

// ListRevokedTokens implements [keyward.RevocationStore].
func (s *Store) ListRevokedTokens(ctx context.Context, now time.Time) ([]keyward.RevokedToken, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT jti, expires_at, revoked_at, subject FROM revoked_tokens
		WHERE expires_at > ? AND NOT `+tokenCovered+` ORDER BY jti`,
		micros(keyward.StoredTime(now)))
	if err != nil {
		return nil, fmt.Errorf("list revoked tokens: %w", err)
	}
	out, err := collect(rows, func(sc scanner) (keyward.RevokedToken, error) {
		var t keyward.RevokedToken
		err := sc.Scan(&t.JTI, usec{&t.ExpiresAt}, usec{&t.RevokedAt}, &t.Subject)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("list revoked tokens: %w", err)
	}
	return out, nil
}

// tokenCovered is true for a row of revoked_tokens revoked before its
// subject's cutoff, which refuses the token too: the feed leaves it out.
const tokenCovered = `(revoked_tokens.subject <> '' AND EXISTS (SELECT 1 FROM user_revocations u
	WHERE u.user_id = revoked_tokens.subject AND revoked_tokens.revoked_at < u.before))`

// UserCutoff implements [keyward.RevocationStore].
func (s *Store) UserCutoff(ctx context.Context, userID string) (time.Time, error) {
	var before time.Time
	err := s.r.QueryRowContext(ctx, `SELECT before FROM user_revocations WHERE user_id = ?`, userID).Scan(usec{&before})
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, fmt.Errorf("user cutoff: %w", err)
	}
	return before, nil
}

// RevokeUser implements [keyward.RevocationStore].
func (s *Store) RevokeUser(ctx context.Context, r keyward.UserRevocation) error {
	if r.UserID == "" {
		return fmt.Errorf("revoke user: empty user id: %w", keyward.ErrInvalid)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		var before int64
		err := tx.QueryRowContext(ctx, `INSERT INTO user_revocations (user_id, before) VALUES (?, ?)
			ON CONFLICT (user_id) DO UPDATE SET before = max(before, excluded.before) RETURNING before`, r.UserID, micros(r.Before)).Scan(&before)
		if err != nil {
			return err
		}
		// The new change carries the cutoff in force: the user's earlier
		// changes are superseded, and a reader that missed them reads it.
		if _, err := tx.ExecContext(ctx, `DELETE FROM revocation_changes WHERE kind = 'user' AND key = ?`, r.UserID); err != nil {
			return err
		}
		return appendChange(ctx, tx, keyward.RevocationUser, r.UserID, before)
	})
	if err != nil {
		return fmt.Errorf("revoke user: %w", err)
	}
	return nil
}

// ListUserRevocations implements [keyward.RevocationStore].
func (s *Store) ListUserRevocations(ctx context.Context) ([]keyward.UserRevocation, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT user_id, before FROM user_revocations ORDER BY user_id`)
	if err != nil {
		return nil, fmt.Errorf("list user revocations: %w", err)
	}
	out, err := collect(rows, func(sc scanner) (keyward.UserRevocation, error) {
		var r keyward.UserRevocation
		err := sc.Scan(&r.UserID, usec{&r.Before})
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("list user revocations: %w", err)
	}
	return out, nil
}

// DeleteUserRevocations implements [keyward.RevocationStore].
func (s *Store) DeleteUserRevocations(ctx context.Context, horizon time.Time) (int, error) {
	var n int
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		if n, err = s.deleteExpired(ctx, tx, "user_revocations", "before", horizon); err != nil {
			return err
		}
		h := micros(keyward.StoredTime(horizon))
		if _, err := tx.ExecContext(ctx, `UPDATE revocation_log SET floor = max(floor,
			(SELECT coalesce(max(seq), 0) FROM revocation_changes WHERE kind = 'user' AND at <= ?))`, h); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM revocation_changes WHERE kind = 'user' AND at <= ?`, h)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete user revocations: %w", err)
	}
	return n, nil
}

// UseJTI implements [keyward.RevocationStore].
func (s *Store) UseJTI(ctx context.Context, issuer, jti string, exp time.Time) error {
	if jti == "" {
		return fmt.Errorf("use jti: empty jti: %w", keyward.ErrInvalid)
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO used_jtis (issuer, jti, expires_at) VALUES (?, ?, ?)`, issuer, jti, micros(exp))
	if isUnique(err) {
		return fmt.Errorf("use jti: %w", keyward.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("use jti: %w", err)
	}
	return nil
}

// DeleteExpiredRevocations implements [keyward.RevocationStore].
func (s *Store) DeleteExpiredRevocations(ctx context.Context, now time.Time) (int, error) {
	var total int
	err := s.write(ctx, func(tx *sql.Tx) error {
		for _, table := range []string{"revoked_tokens", "revoked_grants", "used_jtis"} {
			n, err := s.deleteExpired(ctx, tx, table, "expires_at", now)
			if err != nil {
				return err
			}
			total += n
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM revocation_changes WHERE kind <> 'user' AND at <= ?`, micros(keyward.StoredTime(now)))
		return err
	})
	if err != nil {
		return 0, err
	}
	return total, nil
}

// RevokeGrant implements [keyward.RevocationStore].
func (s *Store) RevokeGrant(ctx context.Context, g keyward.RevokedGrant) error {
	if g.ID == "" || !g.Kind.Valid() {
		return fmt.Errorf("revoke grant: empty id or unknown kind %q: %w", g.Kind, keyward.ErrInvalid)
	}
	if g.RevokedAt.IsZero() {
		g.RevokedAt = s.clock()
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		var exp int64
		var covered bool
		err := tx.QueryRowContext(ctx, `INSERT INTO revoked_grants (kind, id, revoked_at, expires_at, user_id) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (kind, id) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)
			RETURNING expires_at, `+grantCovered,
			string(g.Kind), g.ID, micros(g.RevokedAt), micros(g.ExpiresAt), g.UserID).Scan(&exp, &covered)
		if err != nil || covered {
			return err
		}
		return appendChange(ctx, tx, grantChange(g.Kind), g.ID, exp)
	})
	if err != nil {
		return fmt.Errorf("revoke grant: %w", err)
	}
	return nil
}

// IsGrantRevoked implements [keyward.RevocationStore].
func (s *Store) IsGrantRevoked(ctx context.Context, kind keyward.GrantKind, id string) (bool, error) {
	var revoked bool
	err := s.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM revoked_grants WHERE kind = ? AND id = ?)`, string(kind), id).Scan(&revoked)
	if err != nil {
		return false, fmt.Errorf("is grant revoked: %w", err)
	}
	return revoked, nil
}

// ListRevokedGrants implements [keyward.RevocationStore].
func (s *Store) ListRevokedGrants(ctx context.Context, now time.Time) ([]keyward.RevokedGrant, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT kind, id, revoked_at, expires_at, user_id FROM revoked_grants
		WHERE expires_at > ? AND NOT `+grantCovered+` ORDER BY kind, id`,
		micros(keyward.StoredTime(now)))
	if err != nil {
		return nil, fmt.Errorf("list revoked grants: %w", err)
	}
	out, err := collect(rows, func(sc scanner) (keyward.RevokedGrant, error) {
		var g keyward.RevokedGrant
		var kind string
		err := sc.Scan(&kind, &g.ID, usec{&g.RevokedAt}, usec{&g.ExpiresAt}, &g.UserID)
		g.Kind = keyward.GrantKind(kind)
		return g, err
	})
	if err != nil {
		return nil, fmt.Errorf("list revoked grants: %w", err)
	}
	return out, nil
}

// grantCovered is true for a row of revoked_grants revoked before its
// user's cutoff, which refuses its tokens too: the feed leaves it out.
const grantCovered = `(user_id <> '' AND EXISTS (SELECT 1 FROM user_revocations u
	WHERE u.user_id = revoked_grants.user_id AND revoked_grants.revoked_at < u.before))`

// CountUserEntries implements [keyward.RevocationStore].
func (s *Store) CountUserEntries(ctx context.Context, userID string, now time.Time, limit int) (int, error) {
	var n int
	at := micros(keyward.StoredTime(now))
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM (
		SELECT 1 FROM revoked_grants WHERE user_id = ? AND expires_at > ?
		UNION ALL SELECT 1 FROM revoked_tokens WHERE subject = ? AND expires_at > ?
		LIMIT ?)`, userID, at, userID, at, max(limit, 0)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count user entries: %w", err)
	}
	return n, nil
}

// grantChange is the kind of change that revoking a grant of kind k makes.
func grantChange(k keyward.GrantKind) keyward.RevocationKind {
	if k == keyward.GrantFamily {
		return keyward.RevocationFamily
	}
	return keyward.RevocationSession
}

// appendChange appends a change to the revocation log inside a writing
// transaction: the head is taken first, so changes are numbered in commit
// order.
func appendChange(ctx context.Context, tx *sql.Tx, kind keyward.RevocationKind, key string, at int64) error {
	var seq int64
	if err := tx.QueryRowContext(ctx, `UPDATE revocation_log SET head = head + 1 RETURNING head`).Scan(&seq); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO revocation_changes (seq, kind, key, at) VALUES (?, ?, ?, ?)`, seq, string(kind), key, at)
	return err
}

// RevocationLogHead implements [keyward.RevocationStore].
func (s *Store) RevocationLogHead(ctx context.Context) (head, floor int64, err error) {
	if err := s.r.QueryRowContext(ctx, `SELECT head, floor FROM revocation_log`).Scan(&head, &floor); err != nil {
		return 0, 0, fmt.Errorf("revocation log head: %w", err)
	}
	return head, floor, nil
}

// ListRevocationChanges implements [keyward.RevocationStore].
func (s *Store) ListRevocationChanges(ctx context.Context, since int64, limit int) ([]keyward.RevocationChange, error) {
	if limit <= 0 {
		return []keyward.RevocationChange{}, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT seq, kind, key, at FROM revocation_changes WHERE seq > ? ORDER BY seq LIMIT ?`, since, limit)
	if err != nil {
		return nil, fmt.Errorf("list revocation changes: %w", err)
	}
	out, err := collect(rows, func(sc scanner) (keyward.RevocationChange, error) {
		var c keyward.RevocationChange
		var kind string
		err := sc.Scan(&c.Seq, &kind, &c.Key, usec{&c.At})
		c.Kind = keyward.RevocationKind(kind)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("list revocation changes: %w", err)
	}
	return out, nil
}
