package issuer

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MasterKeySize is the length of the master key in bytes (AES-256).
const MasterKeySize = 32

// sealVersion is the first byte of a sealed key, so the format can change.
const sealVersion = 1

// Sealer encrypts private keys at rest with AES-256-GCM under the master
// key. Each sealed value is a version byte, a random 96-bit nonce and the
// ciphertext with its tag; the key ID is the additional data, so a sealed key
// moved to another row does not open.
type Sealer struct {
	aead   cipher.AEAD
	random io.Reader
}

// NewSealer returns a Sealer for a 32-byte master key. random supplies the
// nonces; nil means crypto/rand.
func NewSealer(masterKey []byte, random io.Reader) (*Sealer, error) {
	if len(masterKey) != MasterKeySize {
		return nil, fmt.Errorf("issuer: master key of %d bytes, want %d", len(masterKey), MasterKeySize)
	}
	block, err := aes.NewCipher(masterKey)
	if err != nil {
		return nil, fmt.Errorf("issuer: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("issuer: %w", err)
	}
	return &Sealer{aead: aead, random: randOrDefault(random)}, nil
}

// Seal encrypts plaintext bound to kid.
func (s *Sealer) Seal(kid string, plaintext []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plaintext)+s.aead.Overhead())
	out[0] = sealVersion
	if _, err := io.ReadFull(s.random, out[1:]); err != nil {
		return nil, fmt.Errorf("issuer: reading a nonce: %w", err)
	}
	return s.aead.Seal(out, out[1:], plaintext, []byte(kid)), nil
}

// Open decrypts a value sealed for kid. It returns an error wrapping
// [ErrMasterKey] when the value does not authenticate.
func (s *Sealer) Open(kid string, sealed []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < 1+ns+s.aead.Overhead() || sealed[0] != sealVersion {
		return nil, fmt.Errorf("%w: key %q: unknown sealed format", ErrMasterKey, kid)
	}
	pt, err := s.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], []byte(kid))
	if err != nil {
		return nil, fmt.Errorf("%w: key %q", ErrMasterKey, kid)
	}
	return pt, nil
}

// ParseMasterKey decodes a master key given as base64 (standard or URL,
// padded or not) or hex; it must decode to exactly 32 bytes. Surrounding
// white space is ignored. The error never echoes the input.
func ParseMasterKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*MasterKeySize {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != MasterKeySize {
				return nil, fmt.Errorf("issuer: master key decodes to %d bytes, want %d", len(b), MasterKeySize)
			}
			return b, nil
		}
	}
	return nil, errors.New("issuer: master key is neither base64 nor hex of 32 bytes")
}
