package verifier

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/jwks"
)

// KeySet is where a [Verifier] gets keys. Keys returns a set holding the
// keys for kid when the source has them (every key for an empty kid); the
// caller does not modify it. A kid the source does not know is not an
// error: the set simply lacks it. The error is for a source that cannot
// answer at all, and makes [Verifier.Verify] fail with
// [ErrKeySourceUnavailable].
//
// Keys is called for every verification, cache hits included, so it must be
// cheap for a known kid. A [*jwks.Set] is a KeySet; so are [StaticKeys] and
// [Combine].
type KeySet interface {
	Keys(ctx context.Context, kid string) (jose.KeySet, error)
}

var (
	_ KeySet = (*jwks.Set)(nil)
	_ KeySet = staticKeys{}
	_ KeySet = combined(nil)
)

type staticKeys struct{ set *jose.JWKS }

// StaticKeys returns a KeySet that always answers with set, for keys read
// from files ([LoadKeys]) or made in code. The set must not change
// afterwards.
func StaticKeys(set *jose.JWKS) KeySet { return staticKeys{set} }

func (s staticKeys) Keys(context.Context, string) (jose.KeySet, error) { return s.set, nil }

// maxKeyFile bounds a key file read by LoadKeys.
const maxKeyFile = 1 << 20

// LoadKeys reads public keys from files: PEM (public keys, certificates, or
// private keys, of which only the public half is kept), a single JWK or a
// JWK Set in JSON, read by [jose.ParseKeyFile]. Keys from PEM, and a single
// JWK without "kid", get their RFC 7638 thumbprint as key ID, as keyward
// signs with by default. Symmetric keys are refused: a shared
// secret does not belong in a file of public keys.
func LoadKeys(paths ...string) (*jose.JWKS, error) {
	set := &jose.JWKS{}
	for _, p := range paths {
		keys, err := loadKeyFile(p)
		if err != nil {
			return nil, fmt.Errorf("verifier: %s: %w", p, err)
		}
		set.Keys = append(set.Keys, keys...)
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("verifier: no public key in %v", paths)
	}
	return set, nil
}

func loadKeyFile(path string) ([]*jose.JWK, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("over %d bytes", maxKeyFile)
	}
	keys, err := jose.ParseKeyFile(data)
	if err != nil {
		return nil, err
	}
	out := make([]*jose.JWK, 0, len(keys))
	for _, k := range keys {
		if _, ok := k.Key.(jose.SharedSecret); ok {
			return nil, fmt.Errorf("%w: symmetric keys are not loaded from files", jose.ErrInvalidKey)
		}
		pub, err := k.Public()
		if err != nil {
			return nil, err
		}
		out = append(out, pub)
	}
	return out, nil
}

type combined []KeySet

// Combine returns a KeySet that asks each of sets in order and answers with
// the first that holds kid; put static sets first, so that their key IDs
// never cause a remote refresh. For an empty kid it answers with the union
// of every set. When no set holds kid and one of them failed, its error is
// returned: the key may be in the set that could not answer.
func Combine(sets ...KeySet) KeySet { return combined(sets) }

func (c combined) Keys(ctx context.Context, kid string) (jose.KeySet, error) {
	var firstErr error
	var first jose.KeySet
	var union *jose.JWKS
	for _, s := range c {
		ks, err := s.Keys(ctx, kid)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if kid == "" {
			if union == nil {
				union = &jose.JWKS{}
			}
			union.Keys = append(union.Keys, ks.Lookup("")...)
			continue
		}
		if len(ks.Lookup(kid)) > 0 {
			return ks, nil
		}
		if first == nil {
			first = ks
		}
	}
	switch {
	case union != nil && firstErr == nil:
		return union, nil
	case firstErr != nil:
		return nil, firstErr
	case first != nil:
		return first, nil
	}
	return &jose.JWKS{}, nil
}
