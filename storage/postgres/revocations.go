package postgres

import (
	"context"
	"fmt"
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
	_, err := s.db.Exec(ctx, `INSERT INTO revoked_tokens (jti, expires_at, revoked_at) VALUES ($1, $2, $3)
		ON CONFLICT (jti) DO NOTHING`, t.JTI, keyward.StoredTime(t.ExpiresAt), keyward.StoredTime(t.RevokedAt))
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
	rows, err := s.db.Query(ctx, `SELECT jti, expires_at, revoked_at FROM revoked_tokens WHERE expires_at > $1 ORDER BY jti`, keyward.StoredTime(now))
	if err != nil {
		return nil, fmt.Errorf("list revoked tokens: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyward.RevokedToken, error) {
		var t keyward.RevokedToken
		err := row.Scan(&t.JTI, tsz{&t.ExpiresAt}, tsz{&t.RevokedAt})
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("list revoked tokens: %w", err)
	}
	return out, nil
}

// RevokeUser implements [keyward.RevocationStore].
func (s *Store) RevokeUser(ctx context.Context, r keyward.UserRevocation) error {
	if r.UserID == "" {
		return fmt.Errorf("revoke user: empty user id: %w", keyward.ErrInvalid)
	}
	_, err := s.db.Exec(ctx, `INSERT INTO user_revocations (user_id, before) VALUES ($1, $2)
		ON CONFLICT (user_id) DO UPDATE SET before = greatest(user_revocations.before, excluded.before)`, r.UserID, keyward.StoredTime(r.Before))
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
	tag, err := s.db.Exec(ctx, `DELETE FROM user_revocations WHERE before <= $1`, keyward.StoredTime(horizon))
	if err != nil {
		return 0, fmt.Errorf("delete user revocations: %w", err)
	}
	return int(tag.RowsAffected()), nil
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
		return nil
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
	_, err := s.db.Exec(ctx, `INSERT INTO revoked_grants (kind, id, revoked_at, expires_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (kind, id) DO UPDATE SET expires_at = greatest(revoked_grants.expires_at, excluded.expires_at)`,
		string(g.Kind), g.ID, keyward.StoredTime(g.RevokedAt), keyward.StoredTime(g.ExpiresAt))
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
	rows, err := s.db.Query(ctx, `SELECT kind, id, revoked_at, expires_at FROM revoked_grants WHERE expires_at > $1 ORDER BY kind, id`,
		keyward.StoredTime(now))
	if err != nil {
		return nil, fmt.Errorf("list revoked grants: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyward.RevokedGrant, error) {
		var g keyward.RevokedGrant
		var kind string
		err := row.Scan(&kind, &g.ID, tsz{&g.RevokedAt}, tsz{&g.ExpiresAt})
		g.Kind = keyward.GrantKind(kind)
		return g, err
	})
	if err != nil {
		return nil, fmt.Errorf("list revoked grants: %w", err)
	}
	return out, nil
}
