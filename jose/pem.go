package jose

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

// MaxPEMSize bounds the input of the PEM readers.
const MaxPEMSize = 1 << 20

// ParseKeyPEM reads the first key in PEM data and validates it. It accepts
// what OpenSSL and the Go standard library write: PKCS#8 ("PRIVATE KEY"),
// PKCS#1 ("RSA PRIVATE KEY", "RSA PUBLIC KEY"), SEC1 ("EC PRIVATE KEY"),
// PKIX ("PUBLIC KEY") and X.509 certificates ("CERTIFICATE", whose public key
// it returns). Blocks such as "EC PARAMETERS" are skipped. Encrypted keys,
// unsupported key types and RSA keys under 2048 bits are refused.
//
// The result is one of *rsa.PrivateKey, *ecdsa.PrivateKey,
// ed25519.PrivateKey, *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey.
func ParseKeyPEM(data []byte) (any, error) {
	keys, err := parsePEM(data, 1)
	if err != nil {
		return nil, err
	}
	return keys[0], nil
}

// ParseKeysPEM reads every key in PEM data, in order, with the rules of
// [ParseKeyPEM]; a certificate chain gives one public key per certificate.
func ParseKeysPEM(data []byte) ([]any, error) {
	return parsePEM(data, 0)
}

func parsePEM(data []byte, limit int) ([]any, error) {
	if len(data) > MaxPEMSize {
		return nil, fmt.Errorf("%w: PEM input of %d bytes (limit %d)", ErrMalformed, len(data), MaxPEMSize)
	}
	var keys []any
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if _, encrypted := block.Headers["Proc-Type"]; encrypted || block.Type == "ENCRYPTED PRIVATE KEY" {
			return nil, fmt.Errorf("%w: encrypted PEM keys are not supported; decrypt it first (openssl pkey -in KEY -out PLAIN)", ErrInvalidKey)
		}
		key, err := parseBlock(block)
		if err != nil {
			return nil, err
		}
		if key == nil {
			continue
		}
		if err := checkKey(key); err != nil {
			return nil, err
		}
		keys = append(keys, key)
		if limit > 0 && len(keys) == limit {
			break
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no PEM key or certificate found", ErrMalformed)
	}
	return keys, nil
}

// parseBlock decodes one PEM block; it returns nil, nil for block types that
// carry no key.
func parseBlock(b *pem.Block) (any, error) {
	var (
		key any
		err error
	)
	switch b.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(b.Bytes)
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(b.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(b.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		cert, err = x509.ParseCertificate(b.Bytes)
		if err == nil {
			key = cert.PublicKey
		}
	default:
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: PEM %q block: %v", ErrMalformed, b.Type, err)
	}
	if _, err := publicOf(key); err != nil {
		return nil, err
	}
	if _, ok := key.(SharedSecret); ok {
		return nil, fmt.Errorf("%w: unsupported key type in PEM", ErrInvalidKey)
	}
	return key, nil
}

// MarshalPrivateKeyPEM encodes a private key as PKCS#8 PEM ("PRIVATE KEY"),
// which OpenSSL and every JOSE library read.
func MarshalPrivateKeyPEM(key any) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublicKeyPEM encodes the public half of key (public or private) as
// PKIX PEM ("PUBLIC KEY").
func MarshalPublicKeyPEM(key any) ([]byte, error) {
	pub, err := PublicKey(key)
	if err != nil {
		return nil, err
	}
	if err := checkKey(pub); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}
