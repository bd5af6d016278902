package memory

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/keyward/keyward"
)

func normRefresh(t keyward.RefreshToken) keyward.RefreshToken {
	t.Hash = cloneBytes(t.Hash)
	t.Audience = cloneStrings(t.Audience)
	t.IssuedAt = keyward.StoredTime(t.IssuedAt)
	t.ExpiresAt = keyward.StoredTime(t.ExpiresAt)
	t.UsedAt = keyward.StoredTime(t.UsedAt)
	t.RevokedAt = keyward.StoredTime(t.RevokedAt)
	return t
}

// putRefresh validates and stores a new token; s.mu must be held.
func (s *Store) putRefresh(t keyward.RefreshToken, now time.Time) error {
	if err := t.Validate(); err != nil {
		return err
	}
	if _, ok := s.refresh[string(t.Hash)]; ok {
		return keyward.ErrConflict
	}
	if _, ok := s.families[t.FamilyID]; ok {
		return fmt.Errorf("family %q: %w", t.FamilyID, keyward.ErrRevoked)
	}
	t = normRefresh(t)
	if t.IssuedAt.IsZero() {
		t.IssuedAt = now
	}
	s.refresh[string(t.Hash)] = t
	fam := s.refreshByFamily[t.FamilyID]
	if fam == nil {
		fam = make(map[string]struct{})
		s.refreshByFamily[t.FamilyID] = fam
	}
	fam[string(t.Hash)] = struct{}{}
	return nil
}

// deleteRefresh deletes the tokens match selects and returns how many it
// deleted; s.mu must be held.
func (s *Store) deleteRefresh(match func(keyward.RefreshToken) bool) int {
	n := 0
	for h, t := range s.refresh {
		if !match(t) {
			continue
		}
		delete(s.refresh, h)
		if fam := s.refreshByFamily[t.FamilyID]; fam != nil {
			delete(fam, h)
			if len(fam) == 0 {
				delete(s.refreshByFamily, t.FamilyID)
			}
		}
		n++
	}
	return n
}

// CreateRefreshToken implements [keyward.RefreshTokenStore].
func (s *Store) CreateRefreshToken(ctx context.Context, t keyward.RefreshToken) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.putRefresh(t, s.clock()); err != nil {
		return fmt.Errorf("create refresh token: %w", err)
	}
	return nil
}

// RotateRefreshToken implements [keyward.RefreshTokenStore].
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash []byte, next keyward.RefreshToken, now time.Time) (keyward.RefreshToken, error) {
	if err := ctx.Err(); err != nil {
		return keyward.RefreshToken{}, err
	}
	now = keyward.StoredTime(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.refresh[string(oldHash)]
	if !ok {
		return keyward.RefreshToken{}, fmt.Errorf("rotate refresh token: %w", keyward.ErrNotFound)
	}
	switch err := old.RotationError(now); {
	case errors.Is(err, keyward.ErrRefreshReused):
		s.revokeFamily(old.FamilyID, now)
		return normRefresh(s.refresh[string(oldHash)]), fmt.Errorf("rotate refresh token: %w", err)
	case err != nil:
		return normRefresh(old), fmt.Errorf("rotate refresh token: %w", err)
	}
	next = old.Successor(next, now)
	if len(next.Hash) > 0 {
		if _, ok := s.refresh[string(next.Hash)]; ok {
			return normRefresh(old), fmt.Errorf("rotate refresh token: next: %w", keyward.ErrConflict)
		}
	}
	if err := s.putRefresh(next, now); err != nil {
		return normRefresh(old), fmt.Errorf("rotate refresh token: next: %w", err)
	}
	old.UsedAt = now
	s.refresh[string(oldHash)] = old
	return normRefresh(old), nil
}

// revokeRefresh revokes at now the tokens match selects; s.mu must be held.
func (s *Store) revokeRefresh(match func(keyward.RefreshToken) bool, now time.Time) {
	for h, t := range s.refresh {
		if match(t) && t.RevokedAt.IsZero() {
			t.RevokedAt = now
			s.refresh[h] = t
		}
	}
}

// GetRefreshToken implements [keyward.RefreshTokenStore].
func (s *Store) GetRefreshToken(ctx context.Context, hash []byte) (keyward.RefreshToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.refresh[string(hash)]
	if !ok {
		return keyward.RefreshToken{}, fmt.Errorf("get refresh token: %w", keyward.ErrNotFound)
	}
	return normRefresh(t), nil
}

// RevokeRefreshFamily implements [keyward.RefreshTokenStore].
func (s *Store) RevokeRefreshFamily(ctx context.Context, familyID string, now time.Time) error {
	if familyID == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revokeFamily(familyID, keyward.StoredTime(now))
	return nil
}

// revokeFamily revokes the family's tokens at now and remembers the family
// as revoked, keeping the first time; s.mu must be held.
func (s *Store) revokeFamily(familyID string, now time.Time) {
	if _, ok := s.families[familyID]; !ok {
		s.families[familyID] = now
	}
	for h := range s.refreshByFamily[familyID] {
		if t := s.refresh[h]; t.RevokedAt.IsZero() {
			t.RevokedAt = now
			s.refresh[h] = t
		}
	}
}

// RevokeSessionRefreshTokens implements [keyward.RefreshTokenStore].
func (s *Store) RevokeSessionRefreshTokens(ctx context.Context, sessionID string, now time.Time) error {
	if sessionID == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revokeRefresh(func(t keyward.RefreshToken) bool { return t.SessionID == sessionID }, keyward.StoredTime(now))
	return nil
}

// RevokeUserRefreshTokens implements [keyward.RefreshTokenStore].
func (s *Store) RevokeUserRefreshTokens(ctx context.Context, userID string, now time.Time) error {
	if userID == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revokeRefresh(func(t keyward.RefreshToken) bool { return t.UserID == userID }, keyward.StoredTime(now))
	return nil
}

// DeleteExpiredRefreshTokens implements [keyward.RefreshTokenStore].
func (s *Store) DeleteExpiredRefreshTokens(ctx context.Context, now time.Time) (int, error) {
	now = keyward.StoredTime(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.deleteRefresh(func(t keyward.RefreshToken) bool { return !t.ExpiresAt.After(now) })
	horizon := now.Add(-keyward.RevokedFamilyRetention)
	maps.DeleteFunc(s.families, func(_ string, revoked time.Time) bool { return !revoked.After(horizon) })
	return n, nil
}

func normCode(c keyward.AuthCode) keyward.AuthCode {
	c.Hash = cloneBytes(c.Hash)
	c.AuthTime = keyward.StoredTime(c.AuthTime)
	c.ExpiresAt = keyward.StoredTime(c.ExpiresAt)
	c.UsedAt = keyward.StoredTime(c.UsedAt)
	c.AMR = cloneStrings(c.AMR)
	return c
}

// CreateAuthCode implements [keyward.AuthCodeStore].
func (s *Store) CreateAuthCode(ctx context.Context, c keyward.AuthCode) error {
	if len(c.Hash) == 0 {
		return fmt.Errorf("create auth code: empty hash: %w", keyward.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.codes[string(c.Hash)]; ok {
		return fmt.Errorf("create auth code: %w", keyward.ErrConflict)
	}
	s.codes[string(c.Hash)] = normCode(c)
	return nil
}

// ConsumeAuthCode implements [keyward.AuthCodeStore].
func (s *Store) ConsumeAuthCode(ctx context.Context, hash []byte, now time.Time) (keyward.AuthCode, error) {
	if err := ctx.Err(); err != nil {
		return keyward.AuthCode{}, err
	}
	now = keyward.StoredTime(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.codes[string(hash)]
	if !ok {
		return keyward.AuthCode{}, fmt.Errorf("consume auth code: %w", keyward.ErrNotFound)
	}
	if err := c.ConsumeError(now); err != nil {
		return normCode(c), fmt.Errorf("consume auth code: %w", err)
	}
	c.UsedAt = now
	s.codes[string(hash)] = c
	return normCode(c), nil
}

// DeleteExpiredAuthCodes implements [keyward.AuthCodeStore].
func (s *Store) DeleteExpiredAuthCodes(ctx context.Context, now time.Time) (int, error) {
	now = keyward.StoredTime(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.codes)
	maps.DeleteFunc(s.codes, func(_ string, c keyward.AuthCode) bool { return !c.ExpiresAt.After(now) })
	return n - len(s.codes), nil
}
