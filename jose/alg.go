package jose

import (
	"crypto"
	"fmt"
	"strings"

	// The hash implementations register themselves with package crypto.
	_ "crypto/sha256"
	_ "crypto/sha512"
)

// Algorithm is a JWS "alg" value (RFC 7518 §3.1, RFC 8037 §3.1). The set is
// closed: only the constants below exist, and comparisons are exact and
// case-sensitive, so "None" or "rs256" are simply unknown.
type Algorithm string

// The supported algorithms.
const (
	RS256 Algorithm = "RS256" // RSASSA-PKCS1-v1_5 with SHA-256
	RS384 Algorithm = "RS384" // RSASSA-PKCS1-v1_5 with SHA-384
	RS512 Algorithm = "RS512" // RSASSA-PKCS1-v1_5 with SHA-512
	PS256 Algorithm = "PS256" // RSASSA-PSS with SHA-256, salt the size of the hash
	PS384 Algorithm = "PS384" // RSASSA-PSS with SHA-384, salt the size of the hash
	PS512 Algorithm = "PS512" // RSASSA-PSS with SHA-512, salt the size of the hash
	ES256 Algorithm = "ES256" // ECDSA on P-256 with SHA-256
	ES384 Algorithm = "ES384" // ECDSA on P-384 with SHA-384
	ES512 Algorithm = "ES512" // ECDSA on P-521 with SHA-512
	EdDSA Algorithm = "EdDSA" // Ed25519 (RFC 8037)
	HS256 Algorithm = "HS256" // HMAC with SHA-256, only with a SharedSecret
	HS384 Algorithm = "HS384" // HMAC with SHA-384, only with a SharedSecret
	HS512 Algorithm = "HS512" // HMAC with SHA-512, only with a SharedSecret
)

// algorithms lists every supported algorithm in a fixed order; the index is
// the algorithm's bit in an AlgorithmSet.
var algorithms = [...]Algorithm{RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, HS256, HS384, HS512}

// Algorithms returns every supported algorithm, asymmetric ones first.
func Algorithms() []Algorithm {
	return append([]Algorithm(nil), algorithms[:]...)
}

// ParseAlgorithm returns the algorithm named s exactly, or an error wrapping
// [ErrAlgorithmNotAllowed] for anything else, "none" included.
func ParseAlgorithm(s string) (Algorithm, error) {
	if a := Algorithm(s); a.index() >= 0 {
		return a, nil
	}
	return "", fmt.Errorf("%w: unknown algorithm %q", ErrAlgorithmNotAllowed, s)
}

func (a Algorithm) index() int {
	// A switch compiles to a jump table and avoids a loop on the hot path.
	switch a {
	case RS256:
		return 0
	case RS384:
		return 1
	case RS512:
		return 2
	case PS256:
		return 3
	case PS384:
		return 4
	case PS512:
		return 5
	case ES256:
		return 6
	case ES384:
		return 7
	case ES512:
		return 8
	case EdDSA:
		return 9
	case HS256:
		return 10
	case HS384:
		return 11
	case HS512:
		return 12
	}
	return -1
}

// String returns the algorithm's name.
func (a Algorithm) String() string { return string(a) }

// Symmetric reports whether a is one of the HMAC algorithms.
func (a Algorithm) Symmetric() bool { return a == HS256 || a == HS384 || a == HS512 }

// Hash returns the hash function a uses; EdDSA hashes internally and returns 0.
func (a Algorithm) Hash() crypto.Hash {
	switch a {
	case RS256, PS256, ES256, HS256:
		return crypto.SHA256
	case RS384, PS384, ES384, HS384:
		return crypto.SHA384
	case RS512, PS512, ES512, HS512:
		return crypto.SHA512
	}
	return 0
}

// family groups algorithms by the key type they need.
type family uint8

const (
	famNone family = iota
	famRSA
	famEC
	famOKP
	famHMAC
)

func (a Algorithm) family() family {
	switch a {
	case RS256, RS384, RS512, PS256, PS384, PS512:
		return famRSA
	case ES256, ES384, ES512:
		return famEC
	case EdDSA:
		return famOKP
	case HS256, HS384, HS512:
		return famHMAC
	}
	return famNone
}

// AlgorithmSet is an allowlist of algorithms. Its zero value allows nothing:
// verification with it always fails with [ErrAlgorithmNotAllowed].
type AlgorithmSet uint16

// NewAlgorithmSet returns the allowlist of algs. It fails when algs is empty
// or names an unknown algorithm ("none" is never known).
func NewAlgorithmSet(algs ...Algorithm) (AlgorithmSet, error) {
	if len(algs) == 0 {
		return 0, fmt.Errorf("%w: the algorithm allowlist is empty", ErrAlgorithmNotAllowed)
	}
	var s AlgorithmSet
	for _, a := range algs {
		i := a.index()
		if i < 0 {
			return 0, fmt.Errorf("%w: unknown algorithm %q", ErrAlgorithmNotAllowed, string(a))
		}
		s |= 1 << i
	}
	return s, nil
}

// ParseAlgorithmSet parses a comma-separated list such as "RS256,ES256".
func ParseAlgorithmSet(list string) (AlgorithmSet, error) {
	var algs []Algorithm
	for rest := list; rest != ""; {
		var name string
		name, rest, _ = strings.Cut(rest, ",")
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		a, err := ParseAlgorithm(name)
		if err != nil {
			return 0, err
		}
		algs = append(algs, a)
	}
	return NewAlgorithmSet(algs...)
}

// Contains reports whether a is in the set.
func (s AlgorithmSet) Contains(a Algorithm) bool {
	i := a.index()
	return i >= 0 && s&(1<<i) != 0
}

// Algorithms returns the members of s in a fixed order.
func (s AlgorithmSet) Algorithms() []Algorithm {
	var out []Algorithm
	for i, a := range algorithms {
		if s&(1<<i) != 0 {
			out = append(out, a)
		}
	}
	return out
}

// String returns the members of s separated by commas.
func (s AlgorithmSet) String() string {
	var b strings.Builder
	for i, a := range s.Algorithms() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(string(a))
	}
	return b.String()
}
