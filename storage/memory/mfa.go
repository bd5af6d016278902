package memory

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/keyward/keyward"
)

// PutTOTP implements [keyward.MFAStore].
func (s *Store) PutTOTP(ctx context.Context, t keyward.TOTP) error {
	if t.UserID == "" || len(t.Secret) == 0 {
		return fmt.Errorf("put totp: %w", keyward.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.clock()
	}
	t.Secret = cloneBytes(t.Secret)
	t.CreatedAt = keyward.StoredTime(t.CreatedAt)
	t.ConfirmedAt = keyward.StoredTime(t.ConfirmedAt)
	s.totp[t.UserID] = t
	return nil
}

// GetTOTP implements [keyward.MFAStore].
func (s *Store) GetTOTP(ctx context.Context, userID string) (keyward.TOTP, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.totp[userID]
	if !ok {
		return keyward.TOTP{}, fmt.Errorf("get totp: %w", keyward.ErrNotFound)
	}
	t.Secret = cloneBytes(t.Secret)
	return t, nil
}

// UseTOTPStep implements [keyward.MFAStore].
func (s *Store) UseTOTPStep(ctx context.Context, userID string, step int64, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.totp[userID]
	switch {
	case !ok:
		return fmt.Errorf("use totp step: %w", keyward.ErrNotFound)
	case step <= t.LastStep:
		return fmt.Errorf("use totp step: %w", keyward.ErrConflict)
	}
	t.LastStep = step
	if t.ConfirmedAt.IsZero() {
		t.ConfirmedAt = keyward.StoredTime(now)
	}
	s.totp[userID] = t
	return nil
}

// DeleteTOTP implements [keyward.MFAStore].
func (s *Store) DeleteTOTP(ctx context.Context, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.totp, userID)
	return nil
}

// SetRecoveryCodes implements [keyward.MFAStore].
func (s *Store) SetRecoveryCodes(ctx context.Context, userID string, codes []keyward.RecoveryCode) error {
	if userID == "" {
		return fmt.Errorf("set recovery codes: %w", keyward.ErrInvalid)
	}
	now := s.clock()
	out := make([]keyward.RecoveryCode, 0, len(codes))
	for _, c := range codes {
		if len(c.Hash) == 0 {
			return fmt.Errorf("set recovery codes: empty hash: %w", keyward.ErrInvalid)
		}
		if c.CreatedAt.IsZero() {
			c.CreatedAt = now
		}
		out = append(out, keyward.RecoveryCode{Hash: cloneBytes(c.Hash), CreatedAt: keyward.StoredTime(c.CreatedAt), UsedAt: keyward.StoredTime(c.UsedAt)})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recovery[userID] = out
	return nil
}

// UseRecoveryCode implements [keyward.MFAStore].
func (s *Store) UseRecoveryCode(ctx context.Context, userID string, hash []byte, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	codes := s.recovery[userID]
	for i, c := range codes {
		if c.UsedAt.IsZero() && len(hash) > 0 && bytes.Equal(c.Hash, hash) {
			codes[i].UsedAt = keyward.StoredTime(now)
			return nil
		}
	}
	return fmt.Errorf("use recovery code: %w", keyward.ErrNotFound)
}

// CountRecoveryCodes implements [keyward.MFAStore].
func (s *Store) CountRecoveryCodes(ctx context.Context, userID string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.recovery[userID] {
		if c.UsedAt.IsZero() {
			n++
		}
	}
	return n, nil
}

// DeleteUserFactors implements [keyward.MFAStore].
func (s *Store) DeleteUserFactors(ctx context.Context, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.totp, userID)
	delete(s.recovery, userID)
	s.deleteUserPasskeys(userID)
	return nil
}
