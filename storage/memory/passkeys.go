package memory

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/keyward/keyward"
)

func normPasskey(p keyward.Passkey) keyward.Passkey {
	p.ID = cloneBytes(p.ID)
	p.PublicKey = cloneBytes(p.PublicKey)
	p.AAGUID = cloneBytes(p.AAGUID)
	p.Transports = cloneStrings(p.Transports)
	p.CreatedAt = keyward.StoredTime(p.CreatedAt)
	p.LastUsedAt = keyward.StoredTime(p.LastUsedAt)
	return p
}

func normCeremony(c keyward.PasskeyCeremony) keyward.PasskeyCeremony {
	c.Hash = cloneBytes(c.Hash)
	c.Data = cloneBytes(c.Data)
	c.ExpiresAt = keyward.StoredTime(c.ExpiresAt)
	return c
}

// CreatePasskey implements [keyward.PasskeyStore].
func (s *Store) CreatePasskey(ctx context.Context, p keyward.Passkey) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("create passkey: %w", err)
	}
	p = normPasskey(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[p.UserID]; !ok {
		return fmt.Errorf("create passkey: user %q: %w", p.UserID, keyward.ErrNotFound)
	}
	if _, ok := s.passkeys[string(p.ID)]; ok {
		return fmt.Errorf("create passkey: %w", keyward.ErrConflict)
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = s.clock()
	}
	s.passkeys[string(p.ID)] = p
	return nil
}

// GetPasskey implements [keyward.PasskeyStore].
func (s *Store) GetPasskey(ctx context.Context, id []byte) (keyward.Passkey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.passkeys[string(id)]
	if !ok {
		return keyward.Passkey{}, fmt.Errorf("get passkey: %w", keyward.ErrNotFound)
	}
	return normPasskey(p), nil
}

// ListPasskeys implements [keyward.PasskeyStore].
func (s *Store) ListPasskeys(ctx context.Context, userID string) ([]keyward.Passkey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []keyward.Passkey
	for _, p := range s.passkeys {
		if p.UserID == userID {
			out = append(out, normPasskey(p))
		}
	}
	slices.SortFunc(out, func(a, b keyward.Passkey) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), bytes.Compare(a.ID, b.ID))
	})
	return out, nil
}

// UpdatePasskey implements [keyward.PasskeyStore].
func (s *Store) UpdatePasskey(ctx context.Context, id []byte, fn func(*keyward.Passkey) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.passkeys[string(id)]
	if !ok {
		return fmt.Errorf("update passkey: %w", keyward.ErrNotFound)
	}
	p := normPasskey(old)
	if err := fn(&p); err != nil {
		return keyward.IgnoreNoChange(err)
	}
	if err := keyward.CheckPasskeyUpdate(old, p); err != nil {
		return fmt.Errorf("update passkey: %w", err)
	}
	s.passkeys[string(id)] = normPasskey(p)
	return nil
}

// DeletePasskey implements [keyward.PasskeyStore].
func (s *Store) DeletePasskey(ctx context.Context, id []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.passkeys[string(id)]; !ok {
		return fmt.Errorf("delete passkey: %w", keyward.ErrNotFound)
	}
	delete(s.passkeys, string(id))
	return nil
}

// DeleteUserPasskeys implements [keyward.PasskeyStore].
func (s *Store) DeleteUserPasskeys(ctx context.Context, userID string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deleteUserPasskeys(userID), nil
}

// deleteUserPasskeys deletes the user's passkeys and ceremonies and returns
// how many passkeys it deleted. The caller holds s.mu.
func (s *Store) deleteUserPasskeys(userID string) int {
	n := len(s.passkeys)
	maps.DeleteFunc(s.passkeys, func(_ string, p keyward.Passkey) bool { return p.UserID == userID })
	maps.DeleteFunc(s.ceremonies, func(_ string, c keyward.PasskeyCeremony) bool { return c.UserID == userID })
	return n - len(s.passkeys)
}

// CreatePasskeyCeremony implements [keyward.PasskeyStore].
func (s *Store) CreatePasskeyCeremony(ctx context.Context, c keyward.PasskeyCeremony) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("create passkey ceremony: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.ceremonies[string(c.Hash)]; ok {
		return fmt.Errorf("create passkey ceremony: %w", keyward.ErrConflict)
	}
	s.ceremonies[string(c.Hash)] = normCeremony(c)
	return nil
}

// ConsumePasskeyCeremony implements [keyward.PasskeyStore].
func (s *Store) ConsumePasskeyCeremony(ctx context.Context, hash []byte, now time.Time) (keyward.PasskeyCeremony, error) {
	if err := ctx.Err(); err != nil {
		return keyward.PasskeyCeremony{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.ceremonies[string(hash)]
	if !ok {
		return keyward.PasskeyCeremony{}, fmt.Errorf("consume passkey ceremony: %w", keyward.ErrNotFound)
	}
	delete(s.ceremonies, string(hash))
	c = normCeremony(c)
	if !keyward.StoredTime(now).Before(c.ExpiresAt) {
		return c, fmt.Errorf("consume passkey ceremony: %w", keyward.ErrExpired)
	}
	return c, nil
}

// DeleteExpiredPasskeyCeremonies implements [keyward.PasskeyStore].
func (s *Store) DeleteExpiredPasskeyCeremonies(ctx context.Context, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now = keyward.StoredTime(now)
	n := len(s.ceremonies)
	maps.DeleteFunc(s.ceremonies, func(_ string, c keyward.PasskeyCeremony) bool { return !c.ExpiresAt.After(now) })
	return n - len(s.ceremonies), nil
}
