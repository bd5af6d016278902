package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/keyward/keyward"
)

func normKey(k keyward.SigningKey) keyward.SigningKey {
	k.PrivateKey = cloneBytes(k.PrivateKey)
	k.PublicJWK = cloneBytes(k.PublicJWK)
	k.CreatedAt = keyward.StoredTime(k.CreatedAt)
	k.ActivateAt = keyward.StoredTime(k.ActivateAt)
	k.RetireAt = keyward.StoredTime(k.RetireAt)
	k.RemoveAt = keyward.StoredTime(k.RemoveAt)
	return k
}

func compareKeys(a, b keyward.SigningKey) int {
	return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
}

// listKeys returns copies of the keys in ListKeys order; s.mu must be held.
func (s *Store) listKeys() []keyward.SigningKey {
	out := make([]keyward.SigningKey, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, normKey(k))
	}
	slices.SortFunc(out, compareKeys)
	return out
}

// ListKeys implements [keyward.KeyStore].
func (s *Store) ListKeys(ctx context.Context) ([]keyward.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listKeys(), nil
}

// UpdateKeys implements [keyward.KeyStore].
func (s *Store) UpdateKeys(ctx context.Context, fn func(current []keyward.SigningKey) ([]keyward.SigningKey, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next, err := fn(s.listKeys())
	if err != nil {
		return keyward.IgnoreNoChange(err)
	}
	if err := keyward.ValidateKeySet(next); err != nil {
		return fmt.Errorf("update keys: %w", err)
	}
	now := s.clock()
	keys := make(map[string]keyward.SigningKey, len(next))
	for _, k := range next {
		k = normKey(k)
		if k.CreatedAt.IsZero() {
			k.CreatedAt = now
		}
		keys[k.ID] = k
	}
	s.keys = keys
	return nil
}
