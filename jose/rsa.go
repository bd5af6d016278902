//go:build !keyward_nobigmod

package jose

import (
	"crypto"
	"crypto/fips140"
	"crypto/rsa"
	"errors"
	"math/big"

	"filippo.io/bigmod"
)

// rsaPublic is an RSA public key prepared once for RSASSA-PKCS1-v1_5
// verification.
//
// crypto/rsa rebuilds the key's Montgomery modulus (including R² mod N) on
// every call to rsa.VerifyPKCS1v15, about a quarter of a 2048-bit check;
// there is no way to keep it between calls. A JWK made by this package keeps
// it here instead and runs the same public-key operation with
// filippo.io/bigmod, the standard library's own crypto/internal/fips140/bigmod
// exported: the arithmetic, its assembly and the encoding check below are
// those of crypto/rsa. Verification handles only public data, so the
// variable-time exponentiation crypto/rsa uses is fine here too.
//
// The fast path is held to crypto/rsa by a differential test and fuzz target
// (FuzzRSAPKCS1v15) that feed both the same keys, encodings and signatures.
// Building with the keyward_nobigmod tag leaves this file out for
// rsa_nobigmod.go: no key is prepared, filippo.io/bigmod is not linked, and
// crypto/rsa checks every RS* signature, as it does for PS* and in FIPS
// 140-3 mode.
type rsaPublic struct {
	pub *rsa.PublicKey // the key this was prepared from
	n   *big.Int       // a copy of pub.N when prepared
	e   int
	m   *bigmod.Modulus
}

// prepareRSA prepares the RSA public key inside key (a *rsa.PublicKey or
// *rsa.PrivateKey), or returns nil when key is not RSA or not a key
// crypto/rsa would accept for verification; such a key then takes the
// crypto/rsa path.
func prepareRSA(key any) *rsaPublic {
	var pub *rsa.PublicKey
	switch k := key.(type) {
	case *rsa.PublicKey:
		pub = k
	case *rsa.PrivateKey:
		pub = &k.PublicKey
	default:
		return nil
	}
	// The checks of crypto/rsa's checkPublicKey and checkPublicKeySize.
	if pub.N == nil || pub.N.Sign() <= 0 || pub.N.Bit(0) == 0 || pub.N.BitLen() < MinRSABits || pub.N.BitLen() > MaxRSABits {
		return nil
	}
	if pub.E < 3 || pub.E&1 == 0 || pub.E > 1<<31-1 {
		return nil
	}
	m, err := bigmod.NewModulus(pub.N.Bytes())
	if err != nil {
		return nil
	}
	return &rsaPublic{pub: pub, n: new(big.Int).Set(pub.N), e: pub.E, m: m}
}

// matches reports whether p was prepared from k as it is now.
func (p *rsaPublic) matches(k *rsa.PublicKey) bool {
	return p != nil && p.pub == k && p.e == k.E && k.N != nil && p.n.Cmp(k.N) == 0 && !fips140.Enabled()
}

// DER prefixes of the DigestInfo of each hash, RFC 8017 §9.2 note 1.
var (
	prefixSHA256 = []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}
	prefixSHA384 = []byte{0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30}
	prefixSHA512 = []byte{0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40}
)

var errRSAVerification = errors.New("crypto/rsa: verification error")

// verifyPKCS1v15 is rsa.VerifyPKCS1v15 (RFC 8017 §8.2.2) on the prepared key:
// s^e mod N must be exactly EM = 0x00 ‖ 0x01 ‖ PS (0xff…) ‖ 0x00 ‖
// DigestInfo prefix ‖ hashed, as EMSA-PKCS1-v1_5 builds it.
func (p *rsaPublic) verifyPKCS1v15(hash crypto.Hash, hashed, sig []byte) error {
	var prefix []byte
	switch hash {
	case crypto.SHA256:
		prefix = prefixSHA256
	case crypto.SHA384:
		prefix = prefixSHA384
	case crypto.SHA512:
		prefix = prefixSHA512
	default:
		return errors.New("crypto/rsa: unsupported hash function")
	}
	if len(hashed) != hash.Size() {
		return errRSAVerification
	}
	k := p.m.Size()
	if len(sig) != k {
		return errRSAVerification
	}
	t := len(prefix) + len(hashed)
	if k < t+11 {
		return errRSAVerification
	}
	// SetBytes refuses a signature that is not below N, as crypto/rsa does.
	s, err := bigmod.NewNat().SetBytes(sig, p.m)
	if err != nil {
		return errRSAVerification
	}
	em := bigmod.NewNat().ExpShortVarTime(s, uint(p.e), p.m).Bytes(p.m)
	if len(em) != k || em[0] != 0 || em[1] != 1 || em[k-t-1] != 0 {
		return errRSAVerification
	}
	for _, b := range em[2 : k-t-1] {
		if b != 0xff {
			return errRSAVerification
		}
	}
	if string(em[k-t:k-len(hashed)]) != string(prefix) || string(em[k-len(hashed):]) != string(hashed) {
		return errRSAVerification
	}
	return nil
}
