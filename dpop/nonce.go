package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// MinNonceSecret is the shortest secret [NewNonces] accepts, in bytes.
const MinNonceSecret = 32

// Nonces makes and checks the server nonces of RFC 9449 §8 without state:
// a nonce is the number of a time period with an HMAC-SHA-256 tag of it
// under a secret, so that every replica that shares the secret (and roughly
// the clock) makes the same nonce and accepts the others'. A nonce is valid
// in the period it was made in and the next one, so a client that fetched it
// just before a period ended still has one whole period to use it; a proof
// that carries one was therefore made at most two periods ago, whatever the
// client says its "iat" is.
//
// Nonces are not secrets (they are sent in the clear in DPoP-Nonce
// headers); the secret is, since whoever holds it can make nonces for any
// future period. It is safe for concurrent use.
type Nonces struct {
	mac    []byte // the HMAC key
	period time.Duration
	now    func() time.Time
}

// NewNonces returns nonces under secret (at least [MinNonceSecret] bytes,
// random) that change every period (positive; a minute to a few minutes
// suits most services). A nil now means time.Now.
func NewNonces(secret []byte, period time.Duration, now func() time.Time) (*Nonces, error) {
	if len(secret) < MinNonceSecret {
		return nil, errors.New("dpop: the nonce secret must be at least 32 bytes")
	}
	if period <= 0 {
		return nil, errors.New("dpop: the nonce period must be positive")
	}
	if now == nil {
		now = time.Now
	}
	// The key is derived, so that the same secret used elsewhere makes
	// no tag that also passes as a nonce.
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("keyward dpop nonce v1"))
	return &Nonces{mac: m.Sum(nil), period: period, now: now}, nil
}

// nonceTagSize is the length of a nonce's tag: 128 bits.
const nonceTagSize = 16

// counter is the number of the current period.
func (n *Nonces) counter() uint64 {
	return uint64(n.now().UnixNano() / int64(n.period))
}

func (n *Nonces) make(c uint64) string {
	var b [8 + nonceTagSize]byte
	binary.BigEndian.PutUint64(b[:8], c)
	copy(b[8:], n.tag(b[:8]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (n *Nonces) tag(counter []byte) []byte {
	m := hmac.New(sha256.New, n.mac)
	m.Write(counter)
	return m.Sum(nil)[:nonceTagSize]
}

// Current returns the nonce of the current period, for a DPoP-Nonce
// header.
func (n *Nonces) Current() string { return n.make(n.counter()) }

// Valid reports whether s is the nonce of the current or the previous
// period. The tag is compared in constant time.
func (n *Nonces) Valid(s string) bool {
	if len(s) != base64.RawURLEncoding.EncodedLen(8+nonceTagSize) {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != 8+nonceTagSize {
		return false
	}
	c := binary.BigEndian.Uint64(b[:8])
	if cur := n.counter(); c != cur && c+1 != cur {
		return false
	}
	return hmac.Equal(n.tag(b[:8]), b[8:])
}
