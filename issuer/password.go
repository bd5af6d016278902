package issuer

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// PasswordParams are the argon2id parameters (RFC 9106) new password hashes
// are made with. Existing hashes keep the parameters written in their PHC
// string, so changing these affects only passwords set afterwards.
type PasswordParams struct {
	// Memory is the memory cost in KiB. Zero means 19456 (19 MiB, OWASP's
	// first recommendation).
	Memory uint32
	// Time is the number of passes. Zero means 2.
	Time uint32
	// Threads is the degree of parallelism. Zero means 1.
	Threads uint8
}

// DefaultPasswordParams returns OWASP's recommended argon2id parameters:
// m=19456 KiB, t=2, p=1.
func DefaultPasswordParams() PasswordParams {
	return PasswordParams{Memory: 19456, Time: 2, Threads: 1}
}

func (p PasswordParams) withDefaults() PasswordParams {
	d := DefaultPasswordParams()
	if p.Memory == 0 {
		p.Memory = d.Memory
	}
	if p.Time == 0 {
		p.Time = d.Time
	}
	if p.Threads == 0 {
		p.Threads = d.Threads
	}
	return p
}

// Bounds on the parameters read from a stored hash, so that a corrupt or
// hostile row cannot make one login allocate gigabytes or spin for minutes.
const (
	maxArgonMemory  = 1 << 20 // KiB: 1 GiB
	maxArgonTime    = 64
	argonSaltLen    = 16
	argonKeyLen     = 32
	maxArgonHashLen = 128
)

// MaxPasswordLen bounds the passwords accepted, in bytes.
const MaxPasswordLen = 1024

// phc is the unpadded standard base64 of the PHC string format.
var phc = base64.RawStdEncoding.Strict()

// errBadHash means a stored hash is not a PHC string this package reads.
var errBadHash = errors.New("issuer: unreadable password hash")

// HashPassword returns the argon2id PHC string of password:
// "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>", with a 16-byte salt from
// random (nil means crypto/rand) and a 32-byte hash.
func HashPassword(params PasswordParams, password string, random io.Reader) (string, error) {
	if len(password) > MaxPasswordLen {
		return "", fmt.Errorf("issuer: password longer than %d bytes", MaxPasswordLen)
	}
	p := params.withDefaults()
	if p.Memory > maxArgonMemory || p.Time > maxArgonTime {
		return "", fmt.Errorf("issuer: argon2id parameters m=%d t=%d are out of bounds", p.Memory, p.Time)
	}
	salt := make([]byte, argonSaltLen)
	if _, err := io.ReadFull(randOrDefault(random), salt); err != nil {
		return "", fmt.Errorf("issuer: reading a salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, phc.EncodeToString(salt), phc.EncodeToString(key)), nil
}

// argonHash is a parsed PHC string.
type argonHash struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

func parseArgonHash(s string) (*argonHash, error) {
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return nil, errBadHash
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return nil, errBadHash
	}
	h := new(argonHash)
	var seen [3]bool
	for rest := parts[3]; rest != ""; {
		var kv string
		kv, rest, _ = strings.Cut(rest, ",")
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, errBadHash
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nil, errBadHash
		}
		switch k {
		case "m":
			h.memory, seen[0] = uint32(n), true
		case "t":
			h.time, seen[1] = uint32(n), true
		case "p":
			if n > 255 {
				return nil, errBadHash
			}
			h.threads, seen[2] = uint8(n), true
		default:
			return nil, errBadHash
		}
	}
	if !seen[0] || !seen[1] || !seen[2] || h.memory == 0 || h.time == 0 || h.threads == 0 ||
		h.memory > maxArgonMemory || h.time > maxArgonTime || h.memory < 8*uint32(h.threads) {
		return nil, errBadHash
	}
	var err error
	if h.salt, err = phc.DecodeString(parts[4]); err != nil || len(h.salt) < 8 {
		return nil, errBadHash
	}
	if h.key, err = phc.DecodeString(parts[5]); err != nil || len(h.key) < 16 || len(h.key) > maxArgonHashLen {
		return nil, errBadHash
	}
	return h, nil
}

// VerifyPassword reports whether password matches the argon2id PHC string
// hash, comparing in constant time. It returns an error for a hash it cannot
// read, and false for a password over [MaxPasswordLen].
func VerifyPassword(hash, password string) (bool, error) {
	h, err := parseArgonHash(hash)
	if err != nil {
		return false, err
	}
	if len(password) > MaxPasswordLen {
		return false, nil
	}
	key := argon2.IDKey([]byte(password), h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(key, h.key) == 1, nil
}
