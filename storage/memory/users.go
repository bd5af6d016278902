package memory

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/keyward/keyward"
)

func normUser(u keyward.User) (keyward.User, error) {
	attrs, err := cloneAttributes(u.Attributes)
	if err != nil {
		return keyward.User{}, err
	}
	u.Attributes = attrs
	u.Roles = cloneStrings(u.Roles)
	u.CreatedAt = keyward.StoredTime(u.CreatedAt)
	u.UpdatedAt = keyward.StoredTime(u.UpdatedAt)
	return u, nil
}

func copyUser(u keyward.User) keyward.User {
	u.Roles = cloneStrings(u.Roles)
	u.Attributes, _ = cloneAttributes(u.Attributes) // stored attributes always encode
	return u
}

func (s *Store) usernameTaken(username, exceptID string) bool {
	for _, u := range s.users {
		if u.Username == username && u.ID != exceptID {
			return true
		}
	}
	return false
}

// CreateUser implements [keyward.UserStore].
func (s *Store) CreateUser(ctx context.Context, u keyward.User) error {
	if err := u.Validate(); err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	u, err := normUser(u)
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[u.ID]; ok || s.usernameTaken(u.Username, "") {
		return fmt.Errorf("create user %q: %w", u.Username, keyward.ErrConflict)
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = s.clock()
	}
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = u.CreatedAt
	}
	s.users[u.ID] = u
	return nil
}

// GetUser implements [keyward.UserStore].
func (s *Store) GetUser(ctx context.Context, id string) (keyward.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return keyward.User{}, fmt.Errorf("get user %q: %w", id, keyward.ErrNotFound)
	}
	return copyUser(u), nil
}

// GetUserByName implements [keyward.UserStore].
func (s *Store) GetUserByName(ctx context.Context, username string) (keyward.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.users {
		if u.Username == username {
			return copyUser(u), nil
		}
	}
	return keyward.User{}, fmt.Errorf("get user %q: %w", username, keyward.ErrNotFound)
}

// ListUsers implements [keyward.UserStore].
func (s *Store) ListUsers(ctx context.Context) ([]keyward.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]keyward.User, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, copyUser(u))
	}
	slices.SortFunc(out, func(a, b keyward.User) int { return cmp.Compare(a.Username, b.Username) })
	return out, nil
}

// UpdateUser implements [keyward.UserStore].
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(*keyward.User) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.users[id]
	if !ok {
		return fmt.Errorf("update user %q: %w", id, keyward.ErrNotFound)
	}
	u := copyUser(old)
	if err := fn(&u); err != nil {
		return keyward.IgnoreNoChange(err)
	}
	if err := keyward.CheckUserUpdate(old, u); err != nil {
		return fmt.Errorf("update user %q: %w", id, err)
	}
	u, err := normUser(u)
	if err != nil {
		return fmt.Errorf("update user %q: %w", id, err)
	}
	if s.usernameTaken(u.Username, id) {
		return fmt.Errorf("update user %q: username %q: %w", id, u.Username, keyward.ErrConflict)
	}
	if u.UpdatedAt.Equal(old.UpdatedAt) {
		u.UpdatedAt = s.clock()
	}
	s.users[id] = u
	return nil
}

// DeleteUser implements [keyward.UserStore].
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[id]; !ok {
		return fmt.Errorf("delete user %q: %w", id, keyward.ErrNotFound)
	}
	delete(s.users, id)
	maps.DeleteFunc(s.sessions, func(_ string, v keyward.Session) bool { return v.UserID == id })
	s.pruneSessionClients()
	s.deleteRefresh(func(v keyward.RefreshToken) bool { return v.UserID == id })
	maps.DeleteFunc(s.codes, func(_ string, v keyward.AuthCode) bool { return v.UserID == id })
	delete(s.totp, id)
	delete(s.recovery, id)
	s.deleteUserPasskeys(id)
	return nil
}
