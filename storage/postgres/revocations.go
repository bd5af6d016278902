package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

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
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var covered bool
		err := tx.QueryRow(ctx, `INSERT INTO revoked_tokens (jti, expires_at, revoked_at, subject) VALUES ($1, $2, $3, $4)
			ON CONFLICT (jti) DO NOTHING RETURNING `+tokenCovered,
			t.JTI, keyward.StoredTime(t.ExpiresAt), keyward.StoredTime(t.RevokedAt), t.Subject).Scan(&covered)
		if errors.Is(err, pgx.ErrNoRows) || covered {
			return nil // revoked already, or refused by the subject's cutoff
		}
		if err != nil {
			return err
		}
		return appendChange(ctx, tx, keyward.RevocationToken, t.JTI, keyward.StoredTime(t.ExpiresAt))
	})
	if err != nil {
		return fmt.Errorf("revoke access token: %w", err)
	}
	return nil
}

// IsAccessTokenRevoked implements [keyward.RevocationStore].
func (s *Store) IsAccessTokenRevoked(ctx context.Context, jti string) (bool, error) {
	var revoked bool
	err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $1)`, jti).Scan(&revoked)
	if err != nil {
		return false, fmt.Errorf("is access token revoked: %w", err)
	}
	return revoked, nil
}

// ListRevokedTokens implements [keyward.RevocationStore].
func (s *Store) ListRevokedTokens(ctx context.Context, now time.Time) ([]keyward.RevokedToken, error) {
	rows, err := s.db.Query(ctx, `SELECT jti, expires_at, revoked_at, subject FROM revoked_tokens
		WHERE expires_at > $1 AND NOT `+tokenCovered+` ORDER BY jti`, keyward.StoredTime(now))
	if err != nil {
		return nil, fmt.Errorf("list revoked tokens: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyward.RevokedToken, error) {
		var t keyward.RevokedToken
		err := row.Scan(&t.JTI, tsz{&t.ExpiresAt}, tsz{&t.RevokedAt}, &t.Subject)
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
	err := s.db.QueryRow(ctx, `SELECT before FROM user_revocations WHERE user_id = $1`, userID).Scan(tsz{&before})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, fmt.Errorf("user cutoff: %w", err)
	}
	return before, nil
}

// RevokeUser implements [keyward.RevocationStore].
func (s *Store) RevokeUser(ctx context.Context, r keyward.UserRevocation) error {
	if r.UserID == "" {
		return fmt.Errorf("revoke user: empty user id: %w", keyward.ErrInvalid)
	}
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var before time.Time
		err := tx.QueryRow(ctx, `INSERT INTO user_revocations (user_id, before) VALUES ($1, $2)
			ON CONFLICT (user_id) DO UPDATE SET before = greatest(user_revocations.before, excluded.before) RETURNING before`,
			r.UserID, keyward.StoredTime(r.Before)).Scan(tsz{&before})
		if err != nil {
			return err
		}
		// The new change carries the cutoff in force: the user's earlier
		// changes are superseded, and a reader that missed them reads it.
		if _, err := tx.Exec(ctx, `DELETE FROM revocation_changes WHERE kind = 'user' AND key = $1`, r.UserID); err != nil {
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
	rows, err := s.db.Query(ctx, `SELECT user_id, before FROM user_revocations ORDER BY user_id`)
	if err != nil {
		return nil, fmt.Errorf("list user revocations: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyward.UserRevocation, error) {
		var r keyward.UserRevocation
		err := row.Scan(&r.UserID, tsz{&r.Before})
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
	h := keyward.StoredTime(horizon)
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM user_revocations WHERE before <= $1`, h)
		if err != nil {
			return err
		}
		n = int(tag.RowsAffected())
		if _, err := tx.Exec(ctx, `UPDATE revocation_log SET floor = greatest(floor,
			(SELECT coalesce(max(seq), 0) FROM revocation_changes WHERE kind = 'user' AND at <= $1))`, h); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM revocation_changes WHERE kind = 'user' AND at <= $1`, h)
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
	tag, err := s.db.Exec(ctx, `INSERT INTO used_jtis (issuer, jti, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (issuer, jti) DO NOTHING`, issuer, jti, keyward.StoredTime(exp))
	if err != nil {
		return fmt.Errorf("use jti: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("use jti: %w", keyward.ErrConflict)
	}
	return nil
}

// DeleteExpiredRevocations implements [keyward.RevocationStore].
func (s *Store) DeleteExpiredRevocations(ctx context.Context, now time.Time) (int, error) {
	var total int
	err := s.tx(ctx, func(tx pgx.Tx) error {
		total = 0
		for _, table := range []string{"revoked_tokens", "revoked_grants", "used_jtis"} {
			n, err := deleteExpired(ctx, tx, table, now)
			if err != nil {
				return err
			}
			total += n
		}
		_, err := tx.Exec(ctx, `DELETE FROM revocation_changes WHERE kind <> 'user' AND at <= $1`, keyward.StoredTime(now))
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
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var exp time.Time
		var covered bool
		err := tx.QueryRow(ctx, `INSERT INTO revoked_grants (kind, id, revoked_at, expires_at, user_id) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (kind, id) DO UPDATE SET expires_at = greatest(revoked_grants.expires_at, excluded.expires_at)
			RETURNING expires_at, `+grantCovered,
			string(g.Kind), g.ID, keyward.StoredTime(g.RevokedAt), keyward.StoredTime(g.ExpiresAt), g.UserID).Scan(tsz{&exp}, &covered)
		if err != nil || covered {
			return err
		}
		kind := keyward.RevocationSession
		if g.Kind == keyward.GrantFamily {
			kind = keyward.RevocationFamily
		}
		return appendChange(ctx, tx, kind, g.ID, exp)
	})
	if err != nil {
		return fmt.Errorf("revoke grant: %w", err)
	}
	return nil
}

// IsGrantRevoked implements [keyward.RevocationStore].
func (s *Store) IsGrantRevoked(ctx context.Context, kind keyward.GrantKind, id string) (bool, error) {
	var revoked bool
	err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM revoked_grants WHERE kind = $1 AND id = $2)`, string(kind), id).Scan(&revoked)
	if err != nil {
		return false, fmt.Errorf("is grant revoked: %w", err)
	}
	return revoked, nil
}

// ListRevokedGrants implements [keyward.RevocationStore].
func (s *Store) ListRevokedGrants(ctx context.Context, now time.Time) ([]keyward.RevokedGrant, error) {
	rows, err := s.db.Query(ctx, `SELECT kind, id, revoked_at, expires_at, user_id FROM revoked_grants
		WHERE expires_at > $1 AND NOT `+grantCovered+` ORDER BY kind, id`,
		keyward.StoredTime(now))
	if err != nil {
		return nil, fmt.Errorf("list revoked grants: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyward.RevokedGrant, error) {
		var g keyward.RevokedGrant
		var kind string
		err := row.Scan(&kind, &g.ID, tsz{&g.RevokedAt}, tsz{&g.ExpiresAt}, &g.UserID)
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
const grantCovered = `(revoked_grants.user_id <> '' AND EXISTS (SELECT 1 FROM user_revocations u
	WHERE u.user_id = revoked_grants.user_id AND revoked_grants.revoked_at < u.before))`

// CountUserEntries implements [keyward.RevocationStore].
func (s *Store) CountUserEntries(ctx context.Context, userID string, now time.Time, limit int) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT count(*) FROM (
		SELECT 1 FROM revoked_grants WHERE user_id = $1 AND expires_at > $2
		UNION ALL SELECT 1 FROM revoked_tokens WHERE subject = $1 AND expires_at > $2
		LIMIT $3) AS entries`, userID, keyward.StoredTime(now), max(limit, 0)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count user entries: %w", err)
	}
	return n, nil
}

// appendChange appends a change to the revocation log inside a writing
// transaction, and notifies [RevocationChannel] of it: updating the log's
// one row first makes concurrent writers wait for each other's commit, so
// changes are numbered in commit order and a reader never sees a later Seq
// before an earlier one.
func appendChange(ctx context.Context, tx pgx.Tx, kind keyward.RevocationKind, key string, at time.Time) error {
	var seq int64
	if err := tx.QueryRow(ctx, `UPDATE revocation_log SET head = head + 1 RETURNING head`).Scan(&seq); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO revocation_changes (seq, kind, key, at) VALUES ($1, $2, $3, $4)`, seq, string(kind), key, keyward.StoredTime(at)); err != nil {
		return err
	}
	// Delivered at commit to every replica listening (ListenRevocations),
	// so their held long-polls read the change at once.
	_, err := tx.Exec(ctx, `SELECT pg_notify('`+RevocationChannel+`', $1)`, strconv.FormatInt(seq, 10))
	return err
}

// RevocationLogHead implements [keyward.RevocationStore].
func (s *Store) RevocationLogHead(ctx context.Context) (head, floor int64, err error) {
	if err := s.db.QueryRow(ctx, `SELECT head, floor FROM revocation_log`).Scan(&head, &floor); err != nil {
		return 0, 0, fmt.Errorf("revocation log head: %w", err)
	}
	return head, floor, nil
}

// ListRevocationChanges implements [keyward.RevocationStore].
func (s *Store) ListRevocationChanges(ctx context.Context, since int64, limit int) ([]keyward.RevocationChange, error) {
	if limit <= 0 {
		return []keyward.RevocationChange{}, nil
	}
	rows, err := s.db.Query(ctx, `SELECT seq, kind, key, at FROM revocation_changes WHERE seq > $1 ORDER BY seq LIMIT $2`, since, limit)
	if err != nil {
		return nil, fmt.Errorf("list revocation changes: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyward.RevocationChange, error) {
		var c keyward.RevocationChange
		var kind string
		err := row.Scan(&c.Seq, &kind, &c.Key, tsz{&c.At})
		c.Kind = keyward.RevocationKind(kind)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("list revocation changes: %w", err)
	}
	return out, nil
}
