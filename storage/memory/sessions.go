package memory

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

func normSession(v keyward.Session) keyward.Session {
	v.CookieHash = cloneBytes(v.CookieHash)
	v.CreatedAt = keyward.StoredTime(v.CreatedAt)
	v.AuthTime = keyward.StoredTime(v.AuthTime)
	v.ExpiresAt = keyward.StoredTime(v.ExpiresAt)
	v.RevokedAt = keyward.StoredTime(v.RevokedAt)
	v.LastUsedAt = keyward.StoredTime(v.LastUsedAt)
	v.AMR = cloneStrings(v.AMR)
	return v
}

// cookieTaken reports whether a session other than id has the cookie hash.
// Sessions are few in the tests this store serves, so it scans them.
func (s *Store) cookieTaken(hash []byte, id string) bool {
	for _, v := range s.sessions {
		if v.ID != id && bytes.Equal(v.CookieHash, hash) {
			return true
		}
	}
	return false
}

// CreateSession implements [keyward.SessionStore].
func (s *Store) CreateSession(ctx context.Context, v keyward.Session) error {
	if err := v.Validate(); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	v = normSession(v)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[v.ID]; ok || s.cookieTaken(v.CookieHash, v.ID) {
		return fmt.Errorf("create session: %w", keyward.ErrConflict)
	}
	if v.CreatedAt.IsZero() {
		v.CreatedAt = s.clock()
	}
	if v.AuthTime.IsZero() {
		v.AuthTime = v.CreatedAt
	}
	s.sessions[v.ID] = v
	return nil
}

// GetSession implements [keyward.SessionStore].
func (s *Store) GetSession(ctx context.Context, id string) (keyward.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.sessions[id]
	if !ok {
		return keyward.Session{}, fmt.Errorf("get session: %w", keyward.ErrNotFound)
	}
	return normSession(v), nil
}

// GetSessionByCookie implements [keyward.SessionStore].
func (s *Store) GetSessionByCookie(ctx context.Context, hash []byte) (keyward.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(hash) > 0 {
		for _, v := range s.sessions {
			if bytes.Equal(v.CookieHash, hash) {
				return normSession(v), nil
			}
		}
	}
	return keyward.Session{}, fmt.Errorf("get session by cookie: %w", keyward.ErrNotFound)
}

// UpdateSession implements [keyward.SessionStore].
func (s *Store) UpdateSession(ctx context.Context, id string, fn func(*keyward.Session) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.sessions[id]
	if !ok {
		return fmt.Errorf("update session %q: %w", id, keyward.ErrNotFound)
	}
	v := normSession(old)
	if err := fn(&v); err != nil {
		return keyward.IgnoreNoChange(err)
	}
	if err := keyward.CheckSessionUpdate(old, v); err != nil {
		return fmt.Errorf("update session %q: %w", id, err)
	}
	if s.cookieTaken(v.CookieHash, id) {
		return fmt.Errorf("update session %q: cookie hash: %w", id, keyward.ErrConflict)
	}
	old.CookieHash = cloneBytes(v.CookieHash)
	old.AuthTime = keyward.StoredTime(v.AuthTime)
	old.ExpiresAt = keyward.StoredTime(v.ExpiresAt)
	old.AMR = cloneStrings(v.AMR)
	old.ACR = v.ACR
	old.LastUsedAt = keyward.StoredTime(v.LastUsedAt)
	s.sessions[id] = old
	return nil
}

// RevokeSession implements [keyward.SessionStore].
func (s *Store) RevokeSession(ctx context.Context, id string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.sessions[id]
	if !ok {
		return fmt.Errorf("revoke session: %w", keyward.ErrNotFound)
	}
	if v.RevokedAt.IsZero() {
		v.RevokedAt = keyward.StoredTime(now)
		s.sessions[id] = v
	}
	return nil
}

// RevokeUserSessions implements [keyward.SessionStore].
func (s *Store) RevokeUserSessions(ctx context.Context, userID string, now time.Time) error {
	now = keyward.StoredTime(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, v := range s.sessions {
		if v.UserID == userID && v.RevokedAt.IsZero() {
			v.RevokedAt = now
			s.sessions[id] = v
		}
	}
	return nil
}

// ListUserSessions implements [keyward.SessionStore].
func (s *Store) ListUserSessions(ctx context.Context, userID string, now time.Time) ([]keyward.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []keyward.Session
	for _, v := range s.sessions {
		if v.UserID == userID && v.Active(now) {
			out = append(out, normSession(v))
		}
	}
	slices.SortFunc(out, func(a, b keyward.Session) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// DeleteExpiredSessions implements [keyward.SessionStore].
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	now = keyward.StoredTime(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.sessions)
	maps.DeleteFunc(s.sessions, func(_ string, v keyward.Session) bool { return !v.ExpiresAt.After(now) })
	return n - len(s.sessions), nil
}
