package sqlite

import (
	"context"
	"database/sql"
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
	_, err := s.w.ExecContext(ctx, `INSERT INTO revoked_tokens (jti, expires_at, revoked_at) VALUES (?, ?, ?)
		ON CONFLICT (jti) DO NOTHING`, t.JTI, micros(t.ExpiresAt), micros(t.RevokedAt))
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
	rows, err := s.r.QueryContext(ctx, `SELECT jti, expires_at, revoked_at FROM revoked_tokens WHERE expires_at > ? ORDER BY jti`,
		micros(keyward.StoredTime(now)))
	if err != nil {
		return nil, fmt.Errorf("list revoked tokens: %w", err)
	}
	out, err := collect(rows, func(sc scanner) (keyward.RevokedToken, error) {
		var t keyward.RevokedToken
		err := sc.Scan(&t.JTI, usec{&t.ExpiresAt}, usec{&t.RevokedAt})
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
	_, err := s.w.ExecContext(ctx, `INSERT INTO user_revocations (user_id, before) VALUES (?, ?)
		ON CONFLICT (user_id) DO UPDATE SET before = max(before, excluded.before)`, r.UserID, micros(r.Before))
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
	return s.deleteExpired(ctx, s.w, "user_revocations", "before", horizon)
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
	_, err := s.w.ExecContext(ctx, `INSERT INTO revoked_grants (kind, id, revoked_at, expires_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (kind, id) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)`,
		string(g.Kind), g.ID, micros(g.RevokedAt), micros(g.ExpiresAt))
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
	rows, err := s.r.QueryContext(ctx, `SELECT kind, id, revoked_at, expires_at FROM revoked_grants WHERE expires_at > ? ORDER BY kind, id`,
		micros(keyward.StoredTime(now)))
	if err != nil {
		return nil, fmt.Errorf("list revoked grants: %w", err)
	}
	out, err := collect(rows, func(sc scanner) (keyward.RevokedGrant, error) {
		var g keyward.RevokedGrant
		var kind string
		err := sc.Scan(&kind, &g.ID, usec{&g.RevokedAt}, usec{&g.ExpiresAt})
		g.Kind = keyward.GrantKind(kind)
		return g, err
	})
	if err != nil {
		return nil, fmt.Errorf("list revoked grants: %w", err)
	}
	return out, nil
}
