package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"io"
	"log/slog"
)

// RSA key size bounds. Keys under MinRSABits are refused everywhere (RFC 7518
// §3.3); keys over MaxRSABits are refused so that a hostile key set cannot
// make every verification arbitrarily slow.
const (
	MinRSABits = 2048
	MaxRSABits = 8192
)

// SharedSecret is a symmetric key for the HS256/384/512 algorithms. It is a
// distinct type so that it can never be confused with a public key: an
// HMAC algorithm verifies only with a SharedSecret, and a SharedSecret only
// with an HMAC algorithm. It must be at least as long as the hash output
// (RFC 7518 §3.2). Its String and LogValue methods never reveal it.
type SharedSecret []byte

// String redacts the secret.
func (SharedSecret) String() string { return "[shared secret redacted]" }

// LogValue redacts the secret in log/slog output.
func (SharedSecret) LogValue() slog.Value { return slog.StringValue("[shared secret redacted]") }

// GoString redacts the secret in %#v output.
func (SharedSecret) GoString() string { return "jose.SharedSecret{redacted}" }

// publicOf returns the public half of key, which may be a private key, a
// public key or a SharedSecret (returned as is).
func publicOf(key any) (any, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return &k.PublicKey, nil
	case *ecdsa.PrivateKey:
		return &k.PublicKey, nil
	case ed25519.PrivateKey:
		if len(k) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("%w: Ed25519 private key of %d bytes", ErrInvalidKey, len(k))
		}
		return k.Public(), nil
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey, SharedSecret:
		return k, nil
	}
	return nil, fmt.Errorf("%w: unsupported key type %T", ErrInvalidKey, key)
}

// PublicKey returns the public half of a private key, or the key itself when
// it is already public. It fails for unsupported types and for SharedSecret.
func PublicKey(key any) (crypto.PublicKey, error) {
	pub, err := publicOf(key)
	if err != nil {
		return nil, err
	}
	if _, ok := pub.(SharedSecret); ok {
		return nil, fmt.Errorf("%w: a shared secret has no public half", ErrInvalidKey)
	}
	return pub, nil
}

// checkKey validates key (public, private or SharedSecret): RSA size, EC curve
// and point, Ed25519 lengths, secret length. It is what stands between
// untrusted key material and the standard library's crypto, which may panic
// on malformed keys.
func checkKey(key any) error {
	pub, err := publicOf(key)
	if err != nil {
		return err
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N == nil || k.N.Sign() <= 0 {
			return fmt.Errorf("%w: RSA modulus missing", ErrInvalidKey)
		}
		if n := k.N.BitLen(); n < MinRSABits || n > MaxRSABits {
			return fmt.Errorf("%w: RSA key of %d bits (want %d to %d)", ErrInvalidKey, n, MinRSABits, MaxRSABits)
		}
		if k.E < 3 || k.E&1 == 0 || k.E > 1<<31-1 {
			return fmt.Errorf("%w: RSA public exponent %d", ErrInvalidKey, k.E)
		}
	case *ecdsa.PublicKey:
		if curveAlgorithm(k.Curve) == "" {
			return fmt.Errorf("%w: unsupported elliptic curve", ErrInvalidKey)
		}
		// The standard library dereferences the coordinates without a nil
		// check; reading them here is the only way to refuse such a key.
		//lint:ignore SA1019 nil check only, the coordinates are not used.
		if k.X == nil || k.Y == nil {
			return fmt.Errorf("%w: EC point missing", ErrInvalidKey)
		}
		if _, err := k.ECDH(); err != nil {
			return fmt.Errorf("%w: EC point not on the curve", ErrInvalidKey)
		}
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: Ed25519 public key of %d bytes", ErrInvalidKey, len(k))
		}
	case SharedSecret:
		if len(k) < 32 {
			return fmt.Errorf("%w: shared secret of %d bytes (want at least 32)", ErrInvalidKey, len(k))
		}
	}
	return nil
}

// curveAlgorithm returns the one ECDSA algorithm a curve implies.
func curveAlgorithm(c elliptic.Curve) Algorithm {
	switch c {
	case elliptic.P256():
		return ES256
	case elliptic.P384():
		return ES384
	case elliptic.P521():
		return ES512
	}
	return ""
}

// keyAccepts reports whether key (public, private or secret) can be used with
// alg: RSA keys with RS*/PS*, each EC curve with its one ES algorithm, Ed25519
// with EdDSA, and a SharedSecret with HS* when it is at least as long as the
// hash output.
func keyAccepts(key any, alg Algorithm) bool {
	switch k := key.(type) {
	case *rsa.PublicKey, *rsa.PrivateKey:
		return alg.family() == famRSA
	case *ecdsa.PublicKey:
		return curveAlgorithm(k.Curve) == alg
	case *ecdsa.PrivateKey:
		return curveAlgorithm(k.Curve) == alg
	case ed25519.PublicKey, ed25519.PrivateKey:
		return alg == EdDSA
	case SharedSecret:
		return alg.family() == famHMAC && len(k) >= alg.Hash().Size()
	}
	return false
}

// DefaultAlgorithm returns the algorithm a key implies when nothing else is
// said: RS256 for RSA, the curve's ES algorithm, EdDSA, HS256.
func DefaultAlgorithm(key any) (Algorithm, error) {
	pub, err := publicOf(key)
	if err != nil {
		return "", err
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return RS256, nil
	case *ecdsa.PublicKey:
		if a := curveAlgorithm(k.Curve); a != "" {
			return a, nil
		}
	case ed25519.PublicKey:
		return EdDSA, nil
	case SharedSecret:
		return HS256, nil
	}
	return "", fmt.Errorf("%w: no algorithm for key type %T", ErrInvalidKey, key)
}

// GenerateKey makes a new private key for alg: RSA of bits bits (0 means
// 2048; fewer than MinRSABits is refused) for RS*/PS*, the curve of an ES
// algorithm, or Ed25519 for EdDSA. For HS* it returns a random SharedSecret
// of the hash's size. A nil rand means crypto/rand.
func GenerateKey(alg Algorithm, bits int, random io.Reader) (crypto.PrivateKey, error) {
	if random == nil {
		random = rand.Reader
	}
	switch alg.family() {
	case famRSA:
		if bits == 0 {
			bits = MinRSABits
		}
		if bits < MinRSABits || bits > MaxRSABits {
			return nil, fmt.Errorf("%w: RSA key of %d bits (want %d to %d)", ErrInvalidKey, bits, MinRSABits, MaxRSABits)
		}
		return rsa.GenerateKey(random, bits)
	case famEC:
		var c elliptic.Curve
		switch alg {
		case ES256:
			c = elliptic.P256()
		case ES384:
			c = elliptic.P384()
		default:
			c = elliptic.P521()
		}
		return ecdsa.GenerateKey(c, random)
	case famOKP:
		_, priv, err := ed25519.GenerateKey(random)
		return priv, err
	case famHMAC:
		s := make(SharedSecret, alg.Hash().Size())
		if _, err := io.ReadFull(random, s); err != nil {
			return nil, err
		}
		return s, nil
	}
	return nil, fmt.Errorf("%w: cannot generate a key for %q", ErrAlgorithmNotAllowed, string(alg))
}
