package jose

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// DefaultMaxTokenSize is the size limit of [Parse]: 16 KiB, far above any
// sane access token and far below what would make parsing costly.
const DefaultMaxTokenSize = 16 << 10

// Header is the protected header of a JWS (RFC 7515 §4.1) as far as this
// package reads it. Parameters it does not know are ignored, except "crit",
// "jwk", "jku", "x5u" and "x5c", which make [Parse] fail.
type Header struct {
	Algorithm   Algorithm `json:"alg"`
	KeyID       string    `json:"kid,omitempty"`
	Type        string    `json:"typ,omitempty"`
	ContentType string    `json:"cty,omitempty"`
}

// headerReader reads the protected header of a JWS into its Header, by hand,
// member by member, on the strict decoder (which rejects duplicate names and
// invalid UTF-8), and notes the refused parameters it meets. It is the JWS
// itself, so that reading the header allocates nothing more.
type headerReader JWS

const (
	refusedCrit = 1 << iota
	refusedJWK
	refusedJKU
	refusedX5U
	refusedX5C
)

// UnmarshalJSONFrom reads a header object.
func (r *headerReader) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	h := &r.Header
	if dec.PeekKind() != '{' {
		return errors.New("the header is not a JSON object")
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return err
		}
		switch name.String() {
		case "alg":
			v, err := readString(dec, "alg")
			if err != nil {
				return err
			}
			h.Algorithm = algorithmOf(v)
		case "kid":
			v, err := readString(dec, "kid")
			if err != nil {
				return err
			}
			h.KeyID = string(v)
		case "typ":
			v, err := readString(dec, "typ")
			if err != nil {
				return err
			}
			h.Type = typeOf(v)
		case "cty":
			v, err := readString(dec, "cty")
			if err != nil {
				return err
			}
			h.ContentType = string(v)
		case "crit":
			r.refused |= refusedCrit
			err = dec.SkipValue()
		case "jwk":
			r.refused |= refusedJWK
			var v jsontext.Value
			if v, err = dec.ReadValue(); err == nil {
				r.embedded = bytes.Clone(v)
			}
		case "jku":
			r.refused |= refusedJKU
			err = dec.SkipValue()
		case "x5u":
			r.refused |= refusedX5U
			err = dec.SkipValue()
		case "x5c":
			r.refused |= refusedX5C
			err = dec.SkipValue()
		default:
			err = dec.SkipValue()
		}
		if err != nil {
			return err
		}
	}
	_, err := dec.ReadToken()
	return err
}

// readString reads a JSON string value; the result is valid until the next
// call on dec.
func readString(dec *jsontext.Decoder, name string) ([]byte, error) {
	if k := dec.PeekKind(); k != '"' {
		if k == 0 {
			_, err := dec.ReadValue()
			return nil, err
		}
		return nil, fmt.Errorf("%q must be a string", name)
	}
	v, err := dec.ReadValue()
	if err != nil {
		return nil, err
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return v[1 : len(v)-1], nil
	}
	return jsontext.AppendUnquote(nil, v)
}

// algorithmOf returns the Algorithm named b, as a constant when it is known
// so that no string is allocated.
func algorithmOf(b []byte) Algorithm {
	for _, a := range algorithms {
		if string(a) == string(b) {
			return a
		}
	}
	return Algorithm(b)
}

// typeOf returns typ, without allocating for the common values.
func typeOf(b []byte) string {
	switch string(b) {
	case "JWT":
		return "JWT"
	case "at+jwt":
		return "at+jwt"
	}
	return string(b)
}

// KeySet gives the keys a token may be verified with. Keys come only from
// here, never from the token.
type KeySet interface {
	// Lookup returns the keys whose key ID is kid; for an empty kid, every
	// key. The caller must not modify the result.
	Lookup(kid string) []*JWK
}

// JWS is a parsed, not yet verified, compact JWS.
type JWS struct {
	// Header is the decoded protected header. Until Verify succeeds it is
	// attacker-controlled.
	Header Header

	signingInput []byte // ASCII(BASE64URL(header) || '.' || BASE64URL(payload))
	payload      []byte
	signature    []byte
	refused      uint8  // refused header parameters seen, see headerReader
	embedded     []byte // the raw "jwk" header parameter, for ParseEmbedded
}

// Parse parses a compact JWS strictly, with the [DefaultMaxTokenSize] limit.
// It does not verify anything: use [JWS.Verify] or [VerifyJWT].
func Parse(token string) (*JWS, error) {
	return ParseLimit(token, DefaultMaxTokenSize)
}

// ParseLimit is [Parse] with a size limit of maxSize bytes (0 means
// DefaultMaxTokenSize). The size is checked before anything else; then the
// token must be exactly three segments of strict unpadded base64url, and the
// header a strict JSON object with a known "alg" and none of the refused
// parameters. An empty signature segment parses (an unsigned token can be
// inspected) but never verifies.
func ParseLimit(token string, maxSize int) (*JWS, error) {
	j := new(JWS)
	if err := j.parse(token, maxSize); err != nil {
		return nil, err
	}
	return j, nil
}

// parse is ParseLimit into j, which must be zero.
func (j *JWS) parse(token string, maxSize int) error {
	seg, _, err := decodeJWS(token, maxSize, nil, &j.Header, nil)
	if err != nil {
		return err
	}
	j.signingInput, j.payload, j.signature = seg.input, seg.payload, seg.signature
	return nil
}

// segments are the parts of a compact JWS that are checked and read after
// its header.
type segments struct {
	input     []byte // ASCII(BASE64URL(header) || '.' || BASE64URL(payload))
	payload   []byte
	signature []byte
}

// decodeJWS does the work of ParseLimit: it reads the header into h and
// returns the other segments, decoded into scratch when they fit and into a
// new buffer otherwise, and the payload as a string, which shares one
// allocation with the header's. Nothing it is given is kept anywhere else,
// so that VerifyJWT can keep a typical token on its stack. A non-nil jwk
// accepts a "jwk" header parameter and receives its raw value.
func decodeJWS(token string, maxSize int, scratch []byte, h *Header, jwk *[]byte) (seg segments, text string, err error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxTokenSize
	}
	if len(token) > maxSize {
		return segments{}, "", fmt.Errorf("%w: %d bytes (limit %d)", ErrTooLarge, len(token), maxSize)
	}
	h64, rest, ok1 := strings.Cut(token, ".")
	p64, s64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.IndexByte(s64, '.') >= 0 {
		return segments{}, "", fmt.Errorf("%w: a compact JWS has exactly three segments", ErrMalformed)
	}
	if h64 == "" {
		return segments{}, "", fmt.Errorf("%w: empty header segment", ErrMalformed)
	}
	// One buffer holds the signing input and every decoded segment. Line
	// breaks, padding and the standard alphabet are refused by the
	// decoder.
	hn, pn, sn := b64.DecodedLen(len(h64)), b64.DecodedLen(len(p64)), b64.DecodedLen(len(s64))
	inLen := len(h64) + 1 + len(p64)
	var buf []byte
	if n := inLen + hn + pn + sn; n <= len(scratch) {
		buf = scratch[:n]
	} else {
		buf = make([]byte, n)
	}
	copy(buf, token[:inLen])
	out := buf[inLen:]

	header, err := decodeSegment(out[:hn:hn], h64, "header")
	if err != nil {
		return segments{}, "", err
	}
	// The payload follows the header in out, so that one string holds
	// both.
	hl := len(header)
	payload, perr := decodeSegment(out[hl:hl+pn:hl+pn], p64, "payload")
	text = string(out[:hl+len(payload)])
	// The header is read before a bad payload is reported, so that
	// "alg":"none" is refused as such whatever follows it.
	if err := parseHeader(text[:hl], header, h, jwk); err != nil {
		return segments{}, "", err
	}
	if perr != nil {
		return segments{}, "", perr
	}
	sig, err := decodeSegment(out[hn+pn:], s64, "signature")
	if err != nil {
		return segments{}, "", err
	}
	return segments{input: buf[:inLen:inLen], payload: payload, signature: sig}, text[hl:], nil
}

func decodeSegment(dst []byte, src, what string) ([]byte, error) {
	n, ok := decodeBase64URL(dst, src)
	if !ok {
		return nil, fmt.Errorf("%w: %s is not unpadded base64url", ErrMalformed, what)
	}
	return dst[:n], nil
}

// parseHeader reads a protected header, text or the same bytes in data,
// into h and refuses what Parse refuses, except a "jwk" parameter when jwk
// is not nil, which then receives its raw value. data does not outlive the
// call.
func parseHeader(text string, data []byte, h *Header, jwk *[]byte) error {
	var refused uint8
	if !fastHeader(text, h) {
		// The strict decoder reads a copy, so that data can be on the
		// caller's stack.
		r := new(headerReader)
		if err := json.Unmarshal(bytes.Clone(data), r); err != nil {
			return fmt.Errorf("%w: header: %v", ErrMalformed, jsonReason(err))
		}
		*h, refused = r.Header, r.refused
		if jwk != nil && refused&refusedJWK != 0 {
			*jwk, refused = r.embedded, refused&^refusedJWK
		}
	}
	switch {
	case refused&refusedCrit != 0:
		return fmt.Errorf("%w: \"crit\" names an extension this verifier does not implement", ErrUnsupported)
	case refused&refusedJWK != 0:
		return fmt.Errorf("%w: embedded \"jwk\" keys are never trusted", ErrUnsupported)
	case refused&refusedJKU != 0:
		return fmt.Errorf("%w: \"jku\" key URLs are never followed", ErrUnsupported)
	case refused&refusedX5U != 0:
		return fmt.Errorf("%w: \"x5u\" certificate URLs are never followed", ErrUnsupported)
	case refused&refusedX5C != 0:
		return fmt.Errorf("%w: embedded \"x5c\" certificates are never trusted", ErrUnsupported)
	}
	if h.Algorithm == "" {
		return fmt.Errorf("%w: header without \"alg\"", ErrMalformed)
	}
	if h.Algorithm.index() < 0 {
		return fmt.Errorf("%w: %q", ErrAlgorithmNotAllowed, sanitize(string(h.Algorithm)))
	}
	return nil
}

// sanitize bounds attacker-supplied text quoted in an error.
func sanitize(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}

// UnsafePayload returns the payload without any guarantee: before a
// successful Verify it is whatever the sender wrote.
func (j *JWS) UnsafePayload() []byte { return j.payload }

// Verify checks the signature with a key from keys and returns that key.
//
// The header's "alg" must be in algs. The key is chosen by the header's
// "kid"; it must accept the algorithm ([JWK.Accepts]). A token without a
// "kid" is verified only when exactly one key of the set accepts its
// algorithm, so that a bad signature costs one check, never one per key.
//
// Errors wrap [ErrAlgorithmNotAllowed] when the algorithm is outside algs or
// no candidate key is bound to it (HS256 against an RSA key, RS256 against
// an EC key), [ErrKeyNotFound] when the "kid" is unknown, the set is empty
// or several keys could verify a token without "kid", and [ErrSignature]
// when the signature does not verify.
func (j *JWS) Verify(keys KeySet, algs AlgorithmSet) (*JWK, error) {
	return verifyParts(keys, algs, &j.Header, j.signingInput, j.signature)
}

// verifyParts is JWS.Verify on the parts of a JWS; msg and sig do not
// outlive the call.
func verifyParts(keys KeySet, algs AlgorithmSet, h *Header, msg, sig []byte) (*JWK, error) {
	alg := h.Algorithm
	if !algs.Contains(alg) {
		return nil, fmt.Errorf("%w: %s is not in the allowlist [%s]", ErrAlgorithmNotAllowed, alg, algs)
	}
	kid := h.KeyID
	cands := keys.Lookup(kid)
	var key *JWK
	n := 0
	for _, k := range cands {
		if k.Accepts(alg) {
			if key == nil {
				key = k
			}
			n++
		}
	}
	switch {
	case len(cands) == 0 && kid != "":
		return nil, fmt.Errorf("%w: kid %q is not in the key set", ErrKeyNotFound, sanitize(kid))
	case key == nil && kid != "":
		return nil, fmt.Errorf("%w: key %q is not bound to %s", ErrAlgorithmNotAllowed, sanitize(kid), alg)
	case key == nil && len(cands) > 0:
		return nil, fmt.Errorf("%w: no key in the set is bound to %s", ErrAlgorithmNotAllowed, alg)
	case key == nil:
		return nil, fmt.Errorf("%w: the key set is empty", ErrKeyNotFound)
	case kid == "" && n > 1:
		return nil, fmt.Errorf("%w: the token has no kid and %d keys could verify it", ErrKeyNotFound, n)
	}
	if err := verifySignature(key, alg, msg, sig); err != nil {
		return nil, err
	}
	return key, nil
}

// VerifyKey checks the signature with key alone, under the rules of
// [JWS.Verify].
func (j *JWS) VerifyKey(key *JWK, algs AlgorithmSet) error {
	alg := j.Header.Algorithm
	if !algs.Contains(alg) {
		return fmt.Errorf("%w: %s is not in the allowlist [%s]", ErrAlgorithmNotAllowed, alg, algs)
	}
	if !key.Accepts(alg) {
		return fmt.Errorf("%w: a %s cannot verify %s", ErrAlgorithmNotAllowed, keyKind(key.Key), alg)
	}
	return verifySignature(key, alg, j.signingInput, j.signature)
}

// digest hashes msg with the algorithm's hash, without allocating.
func digest(alg Algorithm, msg []byte, buf *[64]byte) []byte {
	switch alg.Hash() {
	case crypto.SHA256:
		*(*[32]byte)(buf[:32]) = sha256.Sum256(msg)
		return buf[:32]
	case crypto.SHA384:
		*(*[48]byte)(buf[:48]) = sha512.Sum384(msg)
		return buf[:48]
	default:
		*buf = sha512.Sum512(msg)
		return buf[:64]
	}
}

// verifySignature checks sig over msg with jwk, which accepts alg.
func verifySignature(jwk *JWK, alg Algorithm, msg, sig []byte) error {
	if len(sig) == 0 {
		return fmt.Errorf("%w: the token is unsigned", ErrSignature)
	}
	pub, err := publicOf(jwk.Key)
	if err != nil {
		return err
	}
	var buf [64]byte
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if len(sig) != k.Size() {
			return fmt.Errorf("%w: RSA signature of %d bytes, want %d", ErrSignature, len(sig), k.Size())
		}
		d := digest(alg, msg, &buf)
		if alg[0] == 'P' {
			// VerifyPSS keeps the digest as far as the compiler can
			// tell; a copy keeps buf on the stack for the other paths.
			err = rsa.VerifyPSS(k, alg.Hash(), bytes.Clone(d), sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else if jwk.rsa.matches(k) {
			err = jwk.rsa.verifyPKCS1v15(alg.Hash(), d, sig)
		} else {
			err = rsa.VerifyPKCS1v15(k, alg.Hash(), d, sig)
		}
	case *ecdsa.PublicKey:
		err = verifyECDSA(k, digest(alg, msg, &buf), sig)
	case ed25519.PublicKey:
		if len(sig) != ed25519.SignatureSize {
			return fmt.Errorf("%w: Ed25519 signature of %d bytes, want %d", ErrSignature, len(sig), ed25519.SignatureSize)
		}
		if !ed25519.Verify(k, msg, sig) {
			err = errors.New("mismatch")
		}
	case SharedSecret:
		mac := hmac.New(alg.Hash().New, k)
		// The hash keeps what it is given as far as the compiler can
		// tell; a copy keeps msg, which may be on the caller's stack,
		// where it is.
		mac.Write(bytes.Clone(msg))
		if !hmac.Equal(mac.Sum(nil), sig) {
			err = errors.New("mismatch")
		}
	default:
		return fmt.Errorf("%w: unsupported key type %T", ErrInvalidKey, pub)
	}
	if err != nil {
		return ErrSignature
	}
	return nil
}

// verifyECDSA checks a JWS ECDSA signature: exactly R‖S, each the curve's
// size, each in [1, n-1] (RFC 7518 §3.4; CVE-2022-21449 is r = s = 0).
func verifyECDSA(pub *ecdsa.PublicKey, hash, sig []byte) error {
	params := pub.Curve.Params()
	size := (params.BitSize + 7) / 8
	if len(sig) != 2*size {
		return fmt.Errorf("%w: ECDSA signature of %d bytes, want %d (R||S)", ErrSignature, len(sig), 2*size)
	}
	var nb [66]byte
	n := params.N.FillBytes(nb[:size])
	r, s := sig[:size], sig[size:]
	if !inRange(r, n) || !inRange(s, n) {
		return fmt.Errorf("%w: ECDSA r or s out of range", ErrSignature)
	}
	var der [2 + 2*(3+67)]byte
	if !ecdsa.VerifyASN1(pub, hash, appendDERSig(der[:0], r, s)) {
		return ErrSignature
	}
	return nil
}

// inRange reports whether the big-endian integer v satisfies 0 < v < n,
// where v and n have the same length.
func inRange(v, n []byte) bool {
	zero := true
	for _, b := range v {
		if b != 0 {
			zero = false
			break
		}
	}
	if zero {
		return false
	}
	for i := range v {
		if v[i] != n[i] {
			return v[i] < n[i]
		}
	}
	return false
}

// appendDERSig appends the ASN.1 DER SEQUENCE { INTEGER r, INTEGER s }.
func appendDERSig(b, r, s []byte) []byte {
	r, s = trimZeros(r), trimZeros(s)
	rl, sl := len(r)+boolInt(r[0]&0x80 != 0), len(s)+boolInt(s[0]&0x80 != 0)
	body := 2 + rl + 2 + sl
	b = append(b, 0x30)
	if body >= 0x80 {
		b = append(b, 0x81)
	}
	b = append(b, byte(body))
	b = appendDERInt(b, r, rl)
	return appendDERInt(b, s, sl)
}

func appendDERInt(b, v []byte, l int) []byte {
	b = append(b, 0x02, byte(l))
	if l > len(v) {
		b = append(b, 0)
	}
	return append(b, v...)
}

func trimZeros(v []byte) []byte {
	for len(v) > 1 && v[0] == 0 {
		v = v[1:]
	}
	return v
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Signer signs compact JWS with one key and one algorithm.
type Signer struct {
	key    any // crypto.Signer or SharedSecret
	pub    any
	alg    Algorithm
	kid    string
	random io.Reader
}

// NewSigner returns a signer for key and alg. key is a crypto.Signer whose
// public key is RSA (at least 2048 bits), ECDSA on P-256/384/521 or Ed25519,
// so keys held in a KMS or an HSM work, or a SharedSecret for HS*. An empty
// alg picks the key's default ([DefaultAlgorithm]); an alg the key is not
// bound to is refused. kid goes into every header; empty means none.
func NewSigner(key any, alg Algorithm, kid string) (*Signer, error) {
	var pub any
	switch k := key.(type) {
	case SharedSecret:
		pub = k
	case crypto.Signer:
		pub = k.Public()
	default:
		return nil, fmt.Errorf("%w: %T cannot sign", ErrInvalidKey, key)
	}
	if err := checkKey(pub); err != nil {
		return nil, err
	}
	if alg == "" {
		a, err := DefaultAlgorithm(pub)
		if err != nil {
			return nil, err
		}
		alg = a
	}
	if alg.index() < 0 {
		return nil, fmt.Errorf("%w: unknown algorithm %q", ErrAlgorithmNotAllowed, string(alg))
	}
	if !keyAccepts(pub, alg) {
		return nil, fmt.Errorf("%w: a %s cannot sign %s", ErrAlgorithmNotAllowed, keyKind(pub), alg)
	}
	return &Signer{key: key, pub: pub, alg: alg, kid: kid, random: rand.Reader}, nil
}

// Algorithm returns the signer's algorithm.
func (s *Signer) Algorithm() Algorithm { return s.alg }

// KeyID returns the key ID the signer writes into headers.
func (s *Signer) KeyID() string { return s.kid }

// Public returns the signer's public key (or its SharedSecret).
func (s *Signer) Public() any { return s.pub }

// Sign returns the compact JWS of payload with a header of the signer's
// algorithm and key ID and the given type ("" for none).
func (s *Signer) Sign(typ string, payload []byte) (string, error) {
	hdr, err := json.Marshal(Header{Algorithm: s.alg, KeyID: s.kid, Type: typ})
	if err != nil {
		return "", fmt.Errorf("jose: encoding header: %w", err)
	}
	return s.signEncoded(hdr, payload)
}

// signEncoded returns the compact JWS of payload under the encoded header
// hdr, which names the signer's algorithm.
func (s *Signer) signEncoded(hdr, payload []byte) (string, error) {
	hl, pl := b64.EncodedLen(len(hdr)), b64.EncodedLen(len(payload))
	buf := make([]byte, hl+1+pl, hl+1+pl+1+b64.EncodedLen(512))
	b64.Encode(buf, hdr)
	buf[hl] = '.'
	b64.Encode(buf[hl+1:], payload)
	sig, err := s.signRaw(buf)
	if err != nil {
		return "", err
	}
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, sig)
	return string(buf), nil
}

func (s *Signer) signRaw(msg []byte) ([]byte, error) {
	if k, ok := s.key.(SharedSecret); ok {
		mac := hmac.New(s.alg.Hash().New, k)
		mac.Write(msg)
		return mac.Sum(nil), nil
	}
	signer := s.key.(crypto.Signer)
	if s.alg == EdDSA {
		return signer.Sign(s.random, msg, crypto.Hash(0))
	}
	var buf [64]byte
	d := digest(s.alg, msg, &buf)
	switch s.alg.family() {
	case famRSA:
		var opts crypto.SignerOpts = s.alg.Hash()
		if s.alg[0] == 'P' {
			opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: s.alg.Hash()}
		}
		sig, err := signer.Sign(s.random, d, opts)
		if err != nil {
			return nil, fmt.Errorf("jose: signing: %w", err)
		}
		return sig, nil
	case famEC:
		der, err := signer.Sign(s.random, d, s.alg.Hash())
		if err != nil {
			return nil, fmt.Errorf("jose: signing: %w", err)
		}
		var rs struct{ R, S *big.Int }
		if rest, err := asn1.Unmarshal(der, &rs); err != nil || len(rest) > 0 {
			return nil, errors.New("jose: signer returned a malformed ECDSA signature")
		}
		size := (s.pub.(*ecdsa.PublicKey).Curve.Params().BitSize + 7) / 8
		out := make([]byte, 2*size)
		rs.R.FillBytes(out[:size])
		rs.S.FillBytes(out[size:])
		return out, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrAlgorithmNotAllowed, s.alg)
}
