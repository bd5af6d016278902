package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// MaxJWKSKeys bounds how many keys a parsed JWK Set may hold.
const MaxJWKSKeys = 256

// JWK is one JSON Web Key (RFC 7517) bound to at most one algorithm.
//
// Key holds one of *rsa.PublicKey, *rsa.PrivateKey, *ecdsa.PublicKey,
// *ecdsa.PrivateKey, ed25519.PublicKey, ed25519.PrivateKey or SharedSecret.
// Algorithm, when set, is the only algorithm the key verifies or signs with;
// when empty, the key's type implies it (see [JWK.Accepts]).
type JWK struct {
	Key       any
	KeyID     string
	Algorithm Algorithm
	Use       string
	KeyOps    []string

	// rsa is Key's RSA public key prepared for verification by NewJWK or
	// the JWK parsers; nil for other keys and for a JWK made as a literal,
	// which verify through crypto/rsa alone.
	rsa *rsaPublic
}

// rawJWK is the wire form of a JWK. Members this package does not use (x5c,
// x5t, ...) are ignored, as RFC 7517 §4 requires; duplicate members are
// rejected by the strict decoder.
type rawJWK struct {
	Kty    string         `json:"kty"`
	Use    string         `json:"use,omitempty"`
	KeyOps []string       `json:"key_ops,omitempty"`
	Alg    string         `json:"alg,omitempty"`
	Kid    string         `json:"kid,omitempty"`
	Crv    string         `json:"crv,omitempty"`
	X      string         `json:"x,omitempty"`
	Y      string         `json:"y,omitempty"`
	N      string         `json:"n,omitempty"`
	E      string         `json:"e,omitempty"`
	D      string         `json:"d,omitempty"`
	P      string         `json:"p,omitempty"`
	Q      string         `json:"q,omitempty"`
	DP     string         `json:"dp,omitempty"`
	DQ     string         `json:"dq,omitempty"`
	QI     string         `json:"qi,omitempty"`
	K      string         `json:"k,omitempty"`
	Oth    jsontext.Value `json:"oth,omitzero"`
}

func (r *rawJWK) hasPrivate() bool {
	return r.D != "" || r.P != "" || r.Q != "" || r.DP != "" || r.DQ != "" || r.QI != "" || r.K != "" || len(r.Oth) > 0
}

// b64 is the strict unpadded base64url encoding of RFC 7515 §2.
var b64 = base64.RawURLEncoding.Strict()

func decodeB64(field, s string) ([]byte, error) {
	b, err := b64.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: JWK member %q is not unpadded base64url", ErrMalformed, field)
	}
	return b, nil
}

// NewJWK wraps key (public, private or SharedSecret) in a JWK bound to alg,
// after validating both. An empty alg leaves the algorithm implied by the
// key's type. The key ID is the key's RFC 7638 SHA-256 thumbprint.
func NewJWK(key any, alg Algorithm) (*JWK, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if alg != "" && !keyAccepts(key, alg) {
		return nil, fmt.Errorf("%w: a %s cannot be used with %s", ErrAlgorithmNotAllowed, keyKind(key), alg)
	}
	k := &JWK{Key: key, Algorithm: alg, Use: "sig", rsa: prepareRSA(key)}
	if _, ok := key.(SharedSecret); ok {
		k.Use = ""
	}
	kid, err := k.Thumbprint()
	if err != nil {
		return nil, err
	}
	k.KeyID = kid
	return k, nil
}

// keyKind names a key's type for error messages, without its material.
func keyKind(key any) string {
	switch k := key.(type) {
	case *rsa.PublicKey, *rsa.PrivateKey:
		return "RSA key"
	case *ecdsa.PublicKey:
		return k.Curve.Params().Name + " key"
	case *ecdsa.PrivateKey:
		return k.Curve.Params().Name + " key"
	case ed25519.PublicKey, ed25519.PrivateKey:
		return "Ed25519 key"
	case SharedSecret:
		return "shared secret"
	}
	return fmt.Sprintf("%T", key)
}

// Accepts reports whether the key may be used with alg: the declared
// Algorithm when there is one, otherwise the algorithms its type implies
// (RSA: RS*/PS*; P-256: ES256; P-384: ES384; P-521: ES512; Ed25519: EdDSA;
// SharedSecret: HS* no longer than the secret).
func (k *JWK) Accepts(alg Algorithm) bool {
	if k.Algorithm != "" && k.Algorithm != alg {
		return false
	}
	return keyAccepts(k.Key, alg)
}

// IsPublic reports whether the JWK holds a public key only.
func (k *JWK) IsPublic() bool {
	switch k.Key.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		return true
	}
	return false
}

// Public returns a copy of k holding only the public key. It fails for a
// SharedSecret, which has no public half.
func (k *JWK) Public() (*JWK, error) {
	pub, err := PublicKey(k.Key)
	if err != nil {
		return nil, err
	}
	c := *k
	c.Key = pub
	c.KeyOps = nil
	for _, op := range k.KeyOps {
		if op == "verify" {
			c.KeyOps = []string{"verify"}
		}
	}
	return &c, nil
}

// Thumbprint returns the key's RFC 7638 thumbprint with SHA-256, base64url
// encoded: the default key ID. Private and public halves have the same one.
func (k *JWK) Thumbprint() (string, error) {
	sum, err := k.ThumbprintHash(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return b64.EncodeToString(sum), nil
}

// ThumbprintHash returns the key's RFC 7638 thumbprint with hash h.
func (k *JWK) ThumbprintHash(h crypto.Hash) ([]byte, error) {
	pub, err := publicOf(k.Key)
	if err != nil {
		return nil, err
	}
	var s string
	switch p := pub.(type) {
	case *rsa.PublicKey:
		s = `{"e":"` + b64.EncodeToString(big.NewInt(int64(p.E)).Bytes()) + `","kty":"RSA","n":"` + b64.EncodeToString(p.N.Bytes()) + `"}`
	case *ecdsa.PublicKey:
		crv, x, y, err := ecCoordinates(p)
		if err != nil {
			return nil, err
		}
		s = `{"crv":"` + crv + `","kty":"EC","x":"` + b64.EncodeToString(x) + `","y":"` + b64.EncodeToString(y) + `"}`
	case ed25519.PublicKey:
		s = `{"crv":"Ed25519","kty":"OKP","x":"` + b64.EncodeToString(p) + `"}`
	case SharedSecret:
		s = `{"k":"` + b64.EncodeToString(p) + `","kty":"oct"}`
	default:
		return nil, fmt.Errorf("%w: unsupported key type %T", ErrInvalidKey, pub)
	}
	if !h.Available() {
		return nil, fmt.Errorf("%w: hash %v unavailable", ErrInvalidKey, h)
	}
	hh := h.New()
	hh.Write([]byte(s))
	return hh.Sum(nil), nil
}

// ecCoordinates returns a public key's curve name and fixed-size coordinates.
func ecCoordinates(p *ecdsa.PublicKey) (crv string, x, y []byte, err error) {
	size := 0
	switch p.Curve {
	case elliptic.P256():
		crv, size = "P-256", 32
	case elliptic.P384():
		crv, size = "P-384", 48
	case elliptic.P521():
		crv, size = "P-521", 66
	default:
		return "", nil, nil, fmt.Errorf("%w: unsupported elliptic curve", ErrInvalidKey)
	}
	b, err := p.Bytes()
	if err != nil || len(b) != 1+2*size {
		return "", nil, nil, fmt.Errorf("%w: invalid EC public key", ErrInvalidKey)
	}
	return crv, b[1 : 1+size], b[1+size:], nil
}

// MarshalJSON encodes the JWK, private members included when Key is private;
// use [JWK.Public] first to publish it.
func (k *JWK) MarshalJSON() ([]byte, error) {
	r, err := k.raw()
	if err != nil {
		return nil, err
	}
	return json.Marshal(r, json.Deterministic(true))
}

func (k *JWK) raw() (*rawJWK, error) {
	r := &rawJWK{Use: k.Use, KeyOps: k.KeyOps, Alg: string(k.Algorithm), Kid: k.KeyID}
	enc := b64.EncodeToString
	switch key := k.Key.(type) {
	case *rsa.PublicKey:
		r.Kty, r.N, r.E = "RSA", enc(key.N.Bytes()), enc(big.NewInt(int64(key.E)).Bytes())
	case *rsa.PrivateKey:
		if len(key.Primes) != 2 {
			return nil, fmt.Errorf("%w: multi-prime RSA keys are not supported", ErrInvalidKey)
		}
		key.Precompute()
		r.Kty, r.N, r.E = "RSA", enc(key.N.Bytes()), enc(big.NewInt(int64(key.E)).Bytes())
		r.D, r.P, r.Q = enc(key.D.Bytes()), enc(key.Primes[0].Bytes()), enc(key.Primes[1].Bytes())
		r.DP, r.DQ, r.QI = enc(key.Precomputed.Dp.Bytes()), enc(key.Precomputed.Dq.Bytes()), enc(key.Precomputed.Qinv.Bytes())
	case *ecdsa.PublicKey:
		crv, x, y, err := ecCoordinates(key)
		if err != nil {
			return nil, err
		}
		r.Kty, r.Crv, r.X, r.Y = "EC", crv, enc(x), enc(y)
	case *ecdsa.PrivateKey:
		crv, x, y, err := ecCoordinates(&key.PublicKey)
		if err != nil {
			return nil, err
		}
		d, err := key.Bytes()
		if err != nil {
			return nil, fmt.Errorf("%w: invalid EC private key", ErrInvalidKey)
		}
		r.Kty, r.Crv, r.X, r.Y, r.D = "EC", crv, enc(x), enc(y), enc(d)
	case ed25519.PublicKey:
		r.Kty, r.Crv, r.X = "OKP", "Ed25519", enc(key)
	case ed25519.PrivateKey:
		if len(key) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("%w: Ed25519 private key of %d bytes", ErrInvalidKey, len(key))
		}
		r.Kty, r.Crv, r.X, r.D = "OKP", "Ed25519", enc(key[32:]), enc(key.Seed())
	case SharedSecret:
		r.Kty, r.K = "oct", enc(key)
	default:
		return nil, fmt.Errorf("%w: unsupported key type %T", ErrInvalidKey, k.Key)
	}
	return r, nil
}

// ParseJWK parses and validates one JWK, public, private or symmetric.
// Validation covers member encodings, RSA sizes, EC points on their curve,
// Ed25519 lengths, consistency of private and public members, and that a
// declared "alg" suits the key.
func ParseJWK(data []byte) (*JWK, error) {
	var r rawJWK
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w: JWK: %v", ErrMalformed, jsonReason(err))
	}
	return r.key()
}

// errUnsupportedKey marks a well-formed key of a type this package does not
// handle, which a key set skips rather than rejects (RFC 7517 §5).
type errUnsupportedKey struct{ reason string }

func (e errUnsupportedKey) Error() string { return "jose: unsupported key: " + e.reason }
func (e errUnsupportedKey) Unwrap() error { return ErrInvalidKey }

func (r *rawJWK) key() (*JWK, error) {
	k := &JWK{KeyID: r.Kid, Use: r.Use, KeyOps: r.KeyOps}
	if r.Alg != "" {
		a, err := ParseAlgorithm(r.Alg)
		if err != nil {
			return nil, errUnsupportedKey{fmt.Sprintf("algorithm %q", r.Alg)}
		}
		k.Algorithm = a
	}
	var err error
	switch r.Kty {
	case "RSA":
		k.Key, err = r.rsaKey()
	case "EC":
		k.Key, err = r.ecKey()
	case "OKP":
		k.Key, err = r.okpKey()
	case "oct":
		if r.K == "" {
			return nil, fmt.Errorf("%w: oct JWK without \"k\"", ErrMalformed)
		}
		var b []byte
		b, err = decodeB64("k", r.K)
		k.Key = SharedSecret(b)
	case "":
		return nil, fmt.Errorf("%w: JWK without \"kty\"", ErrMalformed)
	default:
		return nil, errUnsupportedKey{fmt.Sprintf("key type %q", r.Kty)}
	}
	if err != nil {
		return nil, err
	}
	if err := checkKey(k.Key); err != nil {
		return nil, err
	}
	if k.Algorithm != "" && !keyAccepts(k.Key, k.Algorithm) {
		return nil, fmt.Errorf("%w: JWK declares %s for a %s", ErrInvalidKey, k.Algorithm, keyKind(k.Key))
	}
	k.rsa = prepareRSA(k.Key)
	return k, nil
}

func (r *rawJWK) rsaKey() (any, error) {
	if r.Crv != "" || r.X != "" || r.Y != "" || r.K != "" {
		return nil, fmt.Errorf("%w: RSA JWK with members of another key type", ErrMalformed)
	}
	if r.N == "" || r.E == "" {
		return nil, fmt.Errorf("%w: RSA JWK without \"n\" or \"e\"", ErrMalformed)
	}
	nb, err := decodeB64("n", r.N)
	if err != nil {
		return nil, err
	}
	eb, err := decodeB64("e", r.E)
	if err != nil {
		return nil, err
	}
	if len(eb) == 0 || len(eb) > 4 {
		return nil, fmt.Errorf("%w: RSA exponent of %d bytes", ErrInvalidKey, len(eb))
	}
	e := 0
	for _, b := range eb {
		e = e<<8 | int(b)
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(nb), E: e}
	if err := checkKey(pub); err != nil {
		return nil, err
	}
	if !r.hasPrivate() {
		return pub, nil
	}
	if len(r.Oth) > 0 {
		return nil, fmt.Errorf("%w: multi-prime RSA keys are not supported", ErrInvalidKey)
	}
	if r.D == "" || r.P == "" || r.Q == "" {
		return nil, fmt.Errorf("%w: RSA private JWK needs \"d\", \"p\" and \"q\"", ErrMalformed)
	}
	var ints [6]*big.Int
	for i, f := range []struct{ name, v string }{{"d", r.D}, {"p", r.P}, {"q", r.Q}, {"dp", r.DP}, {"dq", r.DQ}, {"qi", r.QI}} {
		if f.v == "" {
			continue
		}
		b, err := decodeB64(f.name, f.v)
		if err != nil {
			return nil, err
		}
		ints[i] = new(big.Int).SetBytes(b)
	}
	priv := &rsa.PrivateKey{PublicKey: *pub, D: ints[0], Primes: []*big.Int{ints[1], ints[2]}}
	if err := priv.Validate(); err != nil {
		return nil, fmt.Errorf("%w: inconsistent RSA private key", ErrInvalidKey)
	}
	priv.Precompute()
	// The CRT members are optional; when present they must be the ones
	// the primes imply, so that no two readers of the key disagree.
	for i, want := range []*big.Int{priv.Precomputed.Dp, priv.Precomputed.Dq, priv.Precomputed.Qinv} {
		if got := ints[3+i]; got != nil && got.Cmp(want) != 0 {
			return nil, fmt.Errorf("%w: inconsistent RSA private key (CRT members)", ErrInvalidKey)
		}
	}
	return priv, nil
}

func (r *rawJWK) ecKey() (any, error) {
	if r.N != "" || r.E != "" || r.K != "" {
		return nil, fmt.Errorf("%w: EC JWK with members of another key type", ErrMalformed)
	}
	var c elliptic.Curve
	var size int
	switch r.Crv {
	case "P-256":
		c, size = elliptic.P256(), 32
	case "P-384":
		c, size = elliptic.P384(), 48
	case "P-521":
		c, size = elliptic.P521(), 66
	case "":
		return nil, fmt.Errorf("%w: EC JWK without \"crv\"", ErrMalformed)
	default:
		return nil, errUnsupportedKey{fmt.Sprintf("curve %q", r.Crv)}
	}
	x, err := decodeB64("x", r.X)
	if err != nil {
		return nil, err
	}
	y, err := decodeB64("y", r.Y)
	if err != nil {
		return nil, err
	}
	if len(x) != size || len(y) != size {
		return nil, fmt.Errorf("%w: %s coordinates must be %d bytes each", ErrInvalidKey, r.Crv, size)
	}
	point := make([]byte, 1+2*size)
	point[0] = 4
	copy(point[1:], x)
	copy(point[1+size:], y)
	pub, err := ecdsa.ParseUncompressedPublicKey(c, point)
	if err != nil {
		return nil, fmt.Errorf("%w: %s point is not on the curve", ErrInvalidKey, r.Crv)
	}
	if !r.hasPrivate() {
		return pub, nil
	}
	if r.D == "" || r.P != "" || r.Q != "" || r.DP != "" || r.DQ != "" || r.QI != "" || len(r.Oth) > 0 {
		return nil, fmt.Errorf("%w: EC private JWK must have \"d\" and no RSA members", ErrMalformed)
	}
	d, err := decodeB64("d", r.D)
	if err != nil {
		return nil, err
	}
	if len(d) != size {
		return nil, fmt.Errorf("%w: %s private scalar must be %d bytes", ErrInvalidKey, r.Crv, size)
	}
	priv, err := ecdsa.ParseRawPrivateKey(c, d)
	if err != nil {
		return nil, fmt.Errorf("%w: invalid %s private scalar", ErrInvalidKey, r.Crv)
	}
	if !priv.PublicKey.Equal(pub) {
		return nil, fmt.Errorf("%w: EC private and public members do not match", ErrInvalidKey)
	}
	return priv, nil
}

func (r *rawJWK) okpKey() (any, error) {
	if r.N != "" || r.E != "" || r.Y != "" || r.K != "" {
		return nil, fmt.Errorf("%w: OKP JWK with members of another key type", ErrMalformed)
	}
	if r.Crv != "Ed25519" {
		return nil, errUnsupportedKey{fmt.Sprintf("OKP curve %q", r.Crv)}
	}
	x, err := decodeB64("x", r.X)
	if err != nil {
		return nil, err
	}
	if len(x) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: Ed25519 public key of %d bytes", ErrInvalidKey, len(x))
	}
	pub := ed25519.PublicKey(x)
	if !r.hasPrivate() {
		return pub, nil
	}
	if r.D == "" || r.P != "" || r.Q != "" || r.DP != "" || r.DQ != "" || r.QI != "" || len(r.Oth) > 0 {
		return nil, fmt.Errorf("%w: OKP private JWK must have \"d\" and no RSA members", ErrMalformed)
	}
	d, err := decodeB64("d", r.D)
	if err != nil {
		return nil, err
	}
	if len(d) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: Ed25519 seed of %d bytes", ErrInvalidKey, len(d))
	}
	priv := ed25519.NewKeyFromSeed(d)
	if !pub.Equal(priv.Public()) {
		return nil, fmt.Errorf("%w: Ed25519 private and public members do not match", ErrInvalidKey)
	}
	return priv, nil
}

// JWKS is a JSON Web Key Set (RFC 7517 §5). It implements [KeySet].
type JWKS struct {
	// Keys are the usable keys, in document order.
	Keys []*JWK
	// Skipped lists the members of a parsed set that were left out, with the
	// reason: encryption keys, unknown key types, curves or algorithms, and
	// keys that fail validation. It is not marshaled.
	Skipped []SkippedKey
}

// SkippedKey says why one member of a JWK Set was left out.
type SkippedKey struct {
	Index  int    // position in the document's "keys" array
	KeyID  string // its "kid", when it had one
	Reason string
}

// ParseJWKS parses a public JWK Set such as an issuer publishes. A set that
// is not a JSON object with a "keys" array, has more than [MaxJWKSKeys]
// members, or holds any private or symmetric key material is rejected as a
// whole: a public set that leaks a private key is a misconfiguration, not a
// key to use. Members that are well-formed but unusable here (use "enc",
// key_ops without "verify", unknown types, curves or algorithms, invalid
// keys) are left out and listed in Skipped (RFC 7517 §5).
func ParseJWKS(data []byte) (*JWKS, error) {
	var doc struct {
		Keys *[]jsontext.Value `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: JWKS: %v", ErrMalformed, jsonReason(err))
	}
	if doc.Keys == nil {
		return nil, fmt.Errorf("%w: JWKS without a \"keys\" array", ErrMalformed)
	}
	if len(*doc.Keys) > MaxJWKSKeys {
		return nil, fmt.Errorf("%w: JWKS with %d keys (limit %d)", ErrMalformed, len(*doc.Keys), MaxJWKSKeys)
	}
	set := &JWKS{Keys: make([]*JWK, 0, len(*doc.Keys))}
	for i, v := range *doc.Keys {
		var r rawJWK
		if err := json.Unmarshal(v, &r); err != nil {
			return nil, fmt.Errorf("%w: JWKS key %d: %v", ErrMalformed, i, jsonReason(err))
		}
		if r.hasPrivate() {
			return nil, fmt.Errorf("%w: JWKS key %d (kid %q) has private or symmetric key members", ErrMalformed, i, r.Kid)
		}
		skip := func(reason string) {
			set.Skipped = append(set.Skipped, SkippedKey{Index: i, KeyID: r.Kid, Reason: reason})
		}
		if r.Use != "" && r.Use != "sig" {
			skip(fmt.Sprintf("use %q is not \"sig\"", r.Use))
			continue
		}
		if r.KeyOps != nil && !contains(r.KeyOps, "verify") {
			skip("key_ops does not include \"verify\"")
			continue
		}
		k, err := r.key()
		if err != nil {
			skip(err.Error())
			continue
		}
		set.Keys = append(set.Keys, k)
	}
	return set, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// MarshalJSON encodes the set as {"keys":[...]}, keys in order.
func (s *JWKS) MarshalJSON() ([]byte, error) {
	raws := make([]*rawJWK, 0, len(s.Keys))
	for _, k := range s.Keys {
		r, err := k.raw()
		if err != nil {
			return nil, err
		}
		raws = append(raws, r)
	}
	return json.Marshal(struct {
		Keys []*rawJWK `json:"keys"`
	}{raws}, json.Deterministic(true))
}

// Lookup returns the keys whose key ID is kid; for an empty kid it returns
// every key. It implements [KeySet].
func (s *JWKS) Lookup(kid string) []*JWK {
	if kid == "" {
		return s.Keys
	}
	for i, k := range s.Keys {
		if k.KeyID != kid {
			continue
		}
		// Key IDs are unique in any sane set: return without allocating,
		// unless a later key shares the ID.
		for j := i + 1; j < len(s.Keys); j++ {
			if s.Keys[j].KeyID == kid {
				var out []*JWK
				for _, m := range s.Keys[i:] {
					if m.KeyID == kid {
						out = append(out, m)
					}
				}
				return out
			}
		}
		return s.Keys[i : i+1 : i+1]
	}
	return nil
}

// KeyIDs returns the key IDs of the set, in order.
func (s *JWKS) KeyIDs() []string {
	ids := make([]string, len(s.Keys))
	for i, k := range s.Keys {
		ids[i] = k.KeyID
	}
	return ids
}

// jsonReason shortens a decoder error to its reason without echoing input.
func jsonReason(err error) string {
	var se *json.SemanticError
	if errors.As(err, &se) && se.Err != nil {
		// The unmarshalers of this package already say "jose: malformed".
		return strings.TrimPrefix(se.Err.Error(), ErrMalformed.Error()+": ")
	}
	return err.Error()
}

// Thumbprint is a convenience for the RFC 7638 SHA-256 thumbprint of key.
func Thumbprint(key any) (string, error) {
	return (&JWK{Key: key}).Thumbprint()
}
