package jose

import (
	"bytes"
	"fmt"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// ParseKeyFile parses the contents of a key file in any of the forms keys
// are kept in: PEM (private or public keys in PKCS#1, PKCS#8, SEC1 or PKIX,
// or X.509 certificates; every block), a single JSON Web Key, or a JSON Web
// Key Set (a JSON object with a "keys" member, told apart by parsing the
// object, not by looking for the word). PEM keys come back as JWKs with no
// algorithm (their type implies it) and their RFC 7638 thumbprint as key
// ID; a single JWK without "kid" gets its thumbprint too, so that a key
// reads the same whatever form it was written in; JWKs keep their own "alg"
// and "kid". Private keys stay private: a caller that wants only public keys
// takes [JWK.Public] of each.
//
// Errors never quote data, which may hold a private key.
func ParseKeyFile(data []byte) ([]*JWK, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		var members map[string]jsontext.Value
		if err := json.Unmarshal(trimmed, &members); err != nil {
			// The decoder's message may quote the input.
			return nil, fmt.Errorf("%w: not a valid JWK or JWK set (JSON object)", ErrMalformed)
		}
		if _, ok := members["keys"]; ok {
			set, err := ParseJWKS(trimmed)
			if err != nil {
				return nil, err
			}
			if len(set.Keys) == 0 {
				return nil, fmt.Errorf("%w: no usable key in the JWK set", ErrInvalidKey)
			}
			return set.Keys, nil
		}
		k, err := ParseJWK(trimmed)
		if err != nil {
			return nil, err
		}
		if k.KeyID == "" {
			if k.KeyID, err = k.Thumbprint(); err != nil {
				return nil, err
			}
		}
		return []*JWK{k}, nil
	}
	raw, err := ParseKeysPEM(data)
	if err != nil {
		return nil, err
	}
	keys := make([]*JWK, 0, len(raw))
	for _, r := range raw {
		k, err := NewJWK(r, "")
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}
