package jose

import (
	"fmt"
	"strings"

	"github.com/go-json-experiment/json"
)

// ParseEmbedded parses a compact JWS whose protected header carries, in
// "jwk" (RFC 7515 §4.1.3), the public key it claims to be signed with, as a
// DPoP proof does (RFC 9449 §4.2), and returns that key unverified.
//
// It is the one place this package reads an embedded key, and the key it
// returns proves nothing about who sent the JWS: only that the sender holds
// the private half, once [JWS.VerifyKey] has checked the signature with it.
// A caller must never treat it as a trusted key; it can only compare it
// (by [JWK.Thumbprint]) with a key it already trusts or has bound a token to.
//
// The rules of [ParseLimit] apply otherwise ("crit", "jku", "x5u" and "x5c"
// are still refused), and the key must be a valid public key under the
// rules of [ParseJWK]: a "jwk" with private or symmetric members, or none
// at all, is an error wrapping [ErrMalformed] or [ErrInvalidKey].
func ParseEmbedded(token string, maxSize int) (*JWS, *JWK, error) {
	j := new(JWS)
	seg, _, err := decodeJWS(token, maxSize, nil, &j.Header, &j.embedded)
	if err != nil {
		return nil, nil, err
	}
	j.signingInput, j.payload, j.signature = seg.input, seg.payload, seg.signature
	if j.embedded == nil {
		return nil, nil, fmt.Errorf("%w: header without \"jwk\"", ErrMalformed)
	}
	var r rawJWK
	if err := json.Unmarshal(j.embedded, &r); err != nil {
		return nil, nil, fmt.Errorf("%w: header \"jwk\": %v", ErrMalformed, jsonReason(err))
	}
	if r.hasPrivate() {
		return nil, nil, fmt.Errorf("%w: header \"jwk\" has private or symmetric key members", ErrInvalidKey)
	}
	k, err := r.key()
	if err != nil {
		return nil, nil, err
	}
	if !k.IsPublic() {
		return nil, nil, fmt.Errorf("%w: header \"jwk\" is not a public key", ErrInvalidKey)
	}
	return j, k, nil
}

// SignEmbedded returns the compact JWS of payload with a header of the
// signer's algorithm, the given type and the signer's public key in "jwk"
// (its key members only: no "kid", "use" or private member), as a DPoP
// proof needs (RFC 9449 §4.2). [ParseEmbedded] reads it. A signer with a
// SharedSecret cannot publish its key and fails with [ErrInvalidKey].
func (s *Signer) SignEmbedded(typ string, payload []byte) (string, error) {
	if _, ok := s.pub.(SharedSecret); ok {
		return "", fmt.Errorf("%w: a shared secret cannot be embedded in a header", ErrInvalidKey)
	}
	jwk, err := (&JWK{Key: s.pub}).raw()
	if err != nil {
		return "", err
	}
	hdr, err := json.Marshal(struct {
		Typ string  `json:"typ,omitempty"`
		Alg string  `json:"alg"`
		JWK *rawJWK `json:"jwk"`
	}{typ, string(s.alg), jwk}, json.Deterministic(true))
	if err != nil {
		return "", fmt.Errorf("jose: encoding header: %w", err)
	}
	return s.signEncoded(hdr, payload)
}

// ParseEmbeddedKnown is [ParseEmbedded] for a caller that keeps what
// earlier calls returned: when known(h64) has the header and key that
// ParseEmbedded read from exactly the header segment h64 of token, they are
// used as they are and only the payload and signature are decoded, which
// spares parsing the JSON and validating the key again for a sender that
// sends many JWS with one header (a DPoP client does). Otherwise it is
// ParseEmbedded. known must return only what ParseEmbedded returned for
// that very segment; the key it returns is shared and must not be
// modified.
func ParseEmbeddedKnown(token string, maxSize int, known func(h64 string) (Header, *JWK, bool)) (*JWS, *JWK, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxTokenSize
	}
	if len(token) > maxSize {
		return nil, nil, fmt.Errorf("%w: %d bytes (limit %d)", ErrTooLarge, len(token), maxSize)
	}
	h64, rest, ok1 := strings.Cut(token, ".")
	p64, s64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.IndexByte(s64, '.') >= 0 || known == nil {
		return ParseEmbedded(token, maxSize)
	}
	h, k, ok := known(h64)
	if !ok {
		return ParseEmbedded(token, maxSize)
	}
	inLen := len(h64) + 1 + len(p64)
	pn, sn := b64.DecodedLen(len(p64)), b64.DecodedLen(len(s64))
	buf := make([]byte, inLen+pn+sn)
	copy(buf, token[:inLen])
	payload, err := decodeSegment(buf[inLen:inLen+pn:inLen+pn], p64, "payload")
	if err != nil {
		return nil, nil, err
	}
	sig, err := decodeSegment(buf[inLen+pn:], s64, "signature")
	if err != nil {
		return nil, nil, err
	}
	return &JWS{Header: h, signingInput: buf[:inLen:inLen], payload: payload, signature: sig}, k, nil
}
