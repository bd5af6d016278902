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
	if t.Subject != "" {
		if s.revokedBySub[t.Subject] == nil {
			s.revokedBySub[t.Subject] = make(map[string]keyward.RevokedToken)
		}
		s.revokedBySub[t.Subject][t.JTI] = t
	}
	if s.tokenCovered(t) {
		return nil
	}
	s.appendChange(keyward.RevocationToken, t.JTI, t.ExpiresAt)
	return nil
}

// tokenCovered reports whether t was revoked before its subject's cutoff,
// which refuses it too; s.mu is held.
func (s *Store) tokenCovered(t keyward.RevokedToken) bool {
	before, ok := s.userRevs[t.Subject]
	return t.Subject != "" && ok && t.RevokedAt.Before(before)
}

// UserCutoff implements [keyward.RevocationStore].
func (s *Store) UserCutoff(ctx context.Context, userID string) (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.userRevs[userID], nil
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
		if t.ExpiresAt.After(now) && !s.tokenCovered(t) {
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
	// The new change carries the cutoff in force: the user's earlier
	// changes are superseded, and a reader that missed them reads it.
	s.changes = slices.DeleteFunc(s.changes, func(c keyward.RevocationChange) bool {
		return c.Kind == keyward.RevocationUser && c.Key == r.UserID
	})
	s.appendChange(keyward.RevocationUser, r.UserID, s.userRevs[r.UserID])
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
	s.changes = slices.DeleteFunc(s.changes, func(c keyward.RevocationChange) bool {
		if c.Kind == keyward.RevocationUser && !c.At.After(horizon) {
			s.floor = max(s.floor, c.Seq)
			return true
		}
		return false
	})
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
	n := len(s.revoked) + len(s.jtis) + len(s.grants)
	maps.DeleteFunc(s.revoked, func(_ string, t keyward.RevokedToken) bool {
		if t.ExpiresAt.After(now) {
			return false
		}
		if idx := s.revokedBySub[t.Subject]; idx != nil {
			delete(idx, t.JTI)
			if len(idx) == 0 {
				delete(s.revokedBySub, t.Subject)
			}
		}
		return true
	})
	maps.DeleteFunc(s.jtis, func(_ jtiKey, exp time.Time) bool { return !exp.After(now) })
	maps.DeleteFunc(s.grants, func(k grantKey, g keyward.RevokedGrant) bool {
		if g.ExpiresAt.After(now) {
			return false
		}
		if idx := s.byUser[g.UserID]; idx != nil {
			delete(idx, k)
			if len(idx) == 0 {
				delete(s.byUser, g.UserID)
			}
		}
		return true
	})
	s.changes = slices.DeleteFunc(s.changes, func(c keyward.RevocationChange) bool {
		return c.Kind != keyward.RevocationUser && !c.At.After(now)
	})
	return n - len(s.revoked) - len(s.jtis) - len(s.grants), nil
}

// grantKey identifies a revoked grant.
type grantKey struct {
	kind keyward.GrantKind
	id   string
}

// RevokeGrant implements [keyward.RevocationStore].
func (s *Store) RevokeGrant(ctx context.Context, g keyward.RevokedGrant) error {
	if g.ID == "" || !g.Kind.Valid() {
		return fmt.Errorf("revoke grant: empty id or unknown kind %q: %w", g.Kind, keyward.ErrInvalid)
	}
	g.ExpiresAt = keyward.StoredTime(g.ExpiresAt)
	g.RevokedAt = keyward.StoredTime(g.RevokedAt)
	s.mu.Lock()
	defer s.mu.Unlock()
	if g.RevokedAt.IsZero() {
		g.RevokedAt = s.clock()
	}
	k := grantKey{g.Kind, g.ID}
	if old, ok := s.grants[k]; ok {
		g.RevokedAt, g.UserID = old.RevokedAt, old.UserID
		if old.ExpiresAt.After(g.ExpiresAt) {
			g.ExpiresAt = old.ExpiresAt
		}
	}
	s.grants[k] = g
	if g.UserID != "" {
		if s.byUser[g.UserID] == nil {
			s.byUser[g.UserID] = make(map[grantKey]keyward.RevokedGrant)
		}
		s.byUser[g.UserID][k] = g
	}
	if s.covered(g) {
		return nil
	}
	kind := keyward.RevocationSession
	if g.Kind == keyward.GrantFamily {
		kind = keyward.RevocationFamily
	}
	s.appendChange(kind, g.ID, g.ExpiresAt)
	return nil
}

// covered reports whether g was revoked before its user's cutoff, which
// refuses its tokens too; s.mu is held.
func (s *Store) covered(g keyward.RevokedGrant) bool {
	before, ok := s.userRevs[g.UserID]
	return g.UserID != "" && ok && g.RevokedAt.Before(before)
}

// CountUserEntries implements [keyward.RevocationStore].
func (s *Store) CountUserEntries(ctx context.Context, userID string, now time.Time, limit int) (int, error) {
	now = keyward.StoredTime(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	// Every entry in the indexes has this user ID as its user or subject.
	n := 0
	for _, g := range s.byUser[userID] {
		if n >= limit {
			return n, nil
		}
		if g.ExpiresAt.After(now) {
			n++
		}
	}
	for _, t := range s.revokedBySub[userID] {
		if n >= limit {
			return n, nil
		}
		if t.ExpiresAt.After(now) {
			n++
		}
	}
	return n, nil
}

// IsGrantRevoked implements [keyward.RevocationStore].
func (s *Store) IsGrantRevoked(ctx context.Context, kind keyward.GrantKind, id string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.grants[grantKey{kind, id}]
	return ok, nil
}

// ListRevokedGrants implements [keyward.RevocationStore].
func (s *Store) ListRevokedGrants(ctx context.Context, now time.Time) ([]keyward.RevokedGrant, error) {
	now = keyward.StoredTime(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []keyward.RevokedGrant{}
	for _, g := range s.grants {
		if g.ExpiresAt.After(now) && !s.covered(g) {
			out = append(out, g)
		}
	}
	slices.SortFunc(out, func(a, b keyward.RevokedGrant) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// appendChange appends a change to the revocation log; s.mu is held.
func (s *Store) appendChange(kind keyward.RevocationKind, key string, at time.Time) {
	s.head++
	s.changes = append(s.changes, keyward.RevocationChange{Seq: s.head, Kind: kind, Key: key, At: at})
}

// RevocationLogHead implements [keyward.RevocationStore].
func (s *Store) RevocationLogHead(ctx context.Context) (head, floor int64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.head, s.floor, nil
}

// ListRevocationChanges implements [keyward.RevocationStore].
func (s *Store) ListRevocationChanges(ctx context.Context, since int64, limit int) ([]keyward.RevocationChange, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if since >= s.head || limit <= 0 {
		return []keyward.RevocationChange{}, nil
	}
	i, _ := slices.BinarySearchFunc(s.changes, since+1, func(c keyward.RevocationChange, seq int64) int { return cmp.Compare(c.Seq, seq) })
	out := []keyward.RevocationChange{}
	for _, c := range s.changes[i:] {
		if len(out) >= limit {
			break
		}
		out = append(out, c)
	}
	return out, nil
}
