package memory

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/keyward/keyward"
)

func normClient(c keyward.Client) keyward.Client {
	c.RedirectURIs = cloneStrings(c.RedirectURIs)
	c.PostLogoutRedirectURIs = cloneStrings(c.PostLogoutRedirectURIs)
	c.GrantTypes = cloneStrings(c.GrantTypes)
	c.Scopes = cloneStrings(c.Scopes)
	c.JWKS = cloneBytes(c.JWKS)
	c.CreatedAt = keyward.StoredTime(c.CreatedAt)
	return c
}

// CreateClient implements [keyward.ClientStore].
func (s *Store) CreateClient(ctx context.Context, c keyward.Client) error {
	if c.ID == "" {
		return fmt.Errorf("create client: empty id: %w", keyward.ErrInvalid)
	}
	c = normClient(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[c.ID]; ok {
		return fmt.Errorf("create client %q: %w", c.ID, keyward.ErrConflict)
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = s.clock()
	}
	s.clients[c.ID] = c
	return nil
}

// GetClient implements [keyward.ClientStore].
func (s *Store) GetClient(ctx context.Context, id string) (keyward.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return keyward.Client{}, fmt.Errorf("get client %q: %w", id, keyward.ErrNotFound)
	}
	return normClient(c), nil
}

// ListClients implements [keyward.ClientStore].
func (s *Store) ListClients(ctx context.Context) ([]keyward.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]keyward.Client, 0, len(s.clients))
	for _, c := range s.clients {
		out = append(out, normClient(c))
	}
	slices.SortFunc(out, func(a, b keyward.Client) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// UpdateClient implements [keyward.ClientStore].
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(*keyward.Client) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.clients[id]
	if !ok {
		return fmt.Errorf("update client %q: %w", id, keyward.ErrNotFound)
	}
	c := normClient(old)
	if err := fn(&c); err != nil {
		return keyward.IgnoreNoChange(err)
	}
	if c.ID != id {
		return fmt.Errorf("update client %q: id changed: %w", id, keyward.ErrInvalid)
	}
	s.clients[id] = normClient(c)
	return nil
}

// DeleteClient implements [keyward.ClientStore].
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[id]; !ok {
		return fmt.Errorf("delete client %q: %w", id, keyward.ErrNotFound)
	}
	delete(s.clients, id)
	s.deleteRefresh(func(v keyward.RefreshToken) bool { return v.ClientID == id })
	maps.DeleteFunc(s.codes, func(_ string, v keyward.AuthCode) bool { return v.ClientID == id })
	return nil
}
