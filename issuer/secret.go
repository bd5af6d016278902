package issuer

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
)

// b64url is the unpadded base64url encoding of tokens and identifiers.
var b64url = base64.RawURLEncoding

func randOrDefault(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}

// randomString returns n random bytes from r, base64url encoded.
func randomString(r io.Reader, n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(randOrDefault(r), b); err != nil {
		return "", fmt.Errorf("issuer: reading random bytes: %w", err)
	}
	return b64url.EncodeToString(b), nil
}

// NewID returns a random identifier: 128 bits, base64url encoded, for user
// IDs, client IDs, token IDs (jti) and refresh-token families. A nil random
// means crypto/rand. An identifier never starts with "-", so that people can
// pass one to a command (keyward client show ID) without it reading as a
// flag: such a draw is thrown away and another made.
func NewID(random io.Reader) (string, error) {
	for {
		id, err := randomString(random, 16)
		if err != nil || id[0] != '-' {
			return id, err
		}
	}
}

// NewPassword returns a random password of 128 bits, base64url encoded (22
// characters), for accounts created without one.
func NewPassword(random io.Reader) (string, error) { return randomString(random, 16) }

// NewClientSecret returns a new client secret, 256 random bits base64url
// encoded, and the hash to store for it ([HashClientSecret]).
func NewClientSecret(random io.Reader) (secret, hash string, err error) {
	secret, err = randomString(random, 32)
	if err != nil {
		return "", "", err
	}
	return secret, HashClientSecret(secret), nil
}

// clientSecretPrefix starts the stored form of a client secret.
const clientSecretPrefix = "$sha256$"

// HashClientSecret returns the stored form of a client secret:
// "$sha256$" followed by the unpadded base64 of its SHA-256. A fast hash is
// enough because secrets made by [NewClientSecret] carry 256 random bits, so
// no dictionary or brute-force search applies; it keeps client
// authentication off the argon2id cost that passwords need.
func HashClientSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return clientSecretPrefix + phc.EncodeToString(sum[:])
}

// VerifyClientSecret reports whether secret matches the stored hash, in
// constant time. It reads the "$sha256$" form of [HashClientSecret] and, for
// secrets registered by other means, argon2id PHC strings.
func VerifyClientSecret(hash, secret string) bool {
	switch {
	case strings.HasPrefix(hash, clientSecretPrefix):
		want, err := phc.DecodeString(hash[len(clientSecretPrefix):])
		if err != nil || len(want) != sha256.Size {
			return false
		}
		got := sha256.Sum256([]byte(secret))
		return subtle.ConstantTimeCompare(got[:], want) == 1
	case strings.HasPrefix(hash, "$argon2id$"):
		ok, err := VerifyPassword(hash, secret)
		return err == nil && ok
	}
	return false
}

// hashToken returns the SHA-256 of an opaque token, its stored form.
func hashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}
