package memory

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/keyward/keyward"
)

// RevokeAccessToken implements [keyward.RevocationStore].
func (s *Store) RevokeAccessToken(ctx context.Context, t keyward.RevokedToken) error {
	if t.JTI == "" {
		return fmt.Errorf("revoke access token: empty jti: %w", keyward.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.revoked[t.JTI]; ok {
		return nil
	}
	t.ExpiresAt = keyward.StoredTime(t.ExpiresAt)
	t.RevokedAt = keyward.StoredTime(t.RevokedAt)
	if t.RevokedAt.IsZero() {
		t.RevokedAt = s.clock()
	}
	s.revoked[t.JTI] = t
	return nil
}

// IsAccessTokenRevoked implements [keyward.RevocationStore].
func (s *Store) IsAccessTokenRevoked(ctx context.Context, jti string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.revoked[jti]
	return ok, nil
}

// ListRevokedTokens implements [keyward.RevocationStore].
func (s *Store) ListRevokedTokens(ctx context.Context, now time.Time) ([]keyward.RevokedToken, error) {
	now = keyward.StoredTime(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []keyward.RevokedToken{}
	for _, t := range s.revoked {
		if t.ExpiresAt.After(now) {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b keyward.RevokedToken) int { return cmp.Compare(a.JTI, b.JTI) })
	return out, nil
}

// RevokeUser implements [keyward.RevocationStore].
func (s *Store) RevokeUser(ctx context.Context, r keyward.UserRevocation) error {
	if r.UserID == "" {
		return fmt.Errorf("revoke user: empty user id: %w", keyward.ErrInvalid)
	}
	before := keyward.StoredTime(r.Before)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.userRevs[r.UserID]; !ok || before.After(old) {
		s.userRevs[r.UserID] = before
	}
	return nil
}

// ListUserRevocations implements [keyward.RevocationStore].
func (s *Store) ListUserRevocations(ctx context.Context) ([]keyward.UserRevocation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []keyward.UserRevocation{}
	for id, before := range s.userRevs {
		out = append(out, keyward.UserRevocation{UserID: id, Before: before})
	}
	slices.SortFunc(out, func(a, b keyward.UserRevocation) int { return cmp.Compare(a.UserID, b.UserID) })
	return out, nil
}

// DeleteUserRevocations implements [keyward.RevocationStore].
func (s *Store) DeleteUserRevocations(ctx context.Context, horizon time.Time) (int, error) {
	horizon = keyward.StoredTime(horizon)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.userRevs)
	maps.DeleteFunc(s.userRevs, func(_ string, before time.Time) bool { return !before.After(horizon) })
	return n - len(s.userRevs), nil
}

// UseJTI implements [keyward.RevocationStore].
func (s *Store) UseJTI(ctx context.Context, issuer, jti string, exp time.Time) error {
	if jti == "" {
		return fmt.Errorf("use jti: empty jti: %w", keyward.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := jtiKey{issuer, jti}
	if _, ok := s.jtis[k]; ok {
		return fmt.Errorf("use jti: %w", keyward.ErrConflict)
	}
	s.jtis[k] = keyward.StoredTime(exp)
	return nil
}

// DeleteExpiredRevocations implements [keyward.RevocationStore].
func (s *Store) DeleteExpiredRevocations(ctx context.Context, now time.Time) (int, error) {
	now = keyward.StoredTime(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.revoked) + len(s.jtis)
	maps.DeleteFunc(s.revoked, func(_ string, t keyward.RevokedToken) bool { return !t.ExpiresAt.After(now) })
	maps.DeleteFunc(s.jtis, func(_ jtiKey, exp time.Time) bool { return !exp.After(now) })
	return n - len(s.revoked) - len(s.jtis), nil
}
