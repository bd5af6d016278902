//go:build !keyward_nobigmod

package jose

import (
	"crypto"
	"crypto/fips140"
	"crypto/rsa"
	"errors"
)

// rsaPublic is an RSA public key prepared once for RSASSA-PKCS1-v1_5
// verification.
//
// crypto/rsa rebuilds the key's Montgomery modulus (including R² mod N) on
// every call to rsa.VerifyPKCS1v15, about a quarter of a 2048-bit check;
// there is no way to keep it between calls. A JWK made by this package keeps
// it here instead (montModulus: N's limbs, -N⁻¹ mod 2^64 and R² mod N) and
// runs the public-key operation s^e mod N with its own Montgomery arithmetic
// (rsamont.go): a dedicated squaring that computes each cross product once,
// no conversion out of the Montgomery domain (18 operations for e = 65537
// where crypto/rsa does 19 multiplications), and on amd64 CPUs with ADX and
// BMI2 the row loops in MULX/ADCX/ADOX assembly; the portable Go (math/bits)
// runs everywhere else. For a 2048-bit key on amd64 the exponentiation
// costs about 0.79× crypto/rsa's (filippo.io/bigmod's), and so does an RS256
// verification against what it cost on bigmod (see docs/performance.md);
// the portable Go costs about 1.3× bigmod's assembly. Verification
// handles only public data, so variable time is fine; nothing secret may
// ever go through this arithmetic. The key checks before a key is prepared
// and the encoding check after the exponentiation are crypto/rsa's.
//
// The fast path is held to crypto/rsa and math/big by differential tests on
// random keys and moduli of every size from MinRSABits to MaxRSABits, edge
// signatures and exponents, for the assembly and the portable Go alike
// (TestRSAPreparedMatchesStdlib, TestRSAPreparedRandomKeys,
// TestMontExpMatchesBig), and by fuzz targets (FuzzRSAPKCS1v15,
// FuzzMontExp). Building with the keyward_nobigmod tag (named for the
// arithmetic this path first ran on) leaves this file and the arithmetic out
// for rsa_nobigmod.go: no key is prepared, no arithmetic of keyward's own is
// built, and crypto/rsa checks every RS* signature, as it does for PS* and in
// FIPS 140-3 mode.
type rsaPublic struct {
	pub *rsa.PublicKey // the key this was prepared from
	e   int            // pub.E when prepared
	m   *montModulus   // pub.N when prepared
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
	m := newMontModulus(pub.N)
	if m == nil {
		return nil
	}
	return &rsaPublic{pub: pub, e: pub.E, m: m}
}

// matches reports whether p was prepared from k as it is now: a modulus or
// exponent changed in place since is seen, and the key then takes crypto/rsa.
func (p *rsaPublic) matches(k *rsa.PublicKey) bool {
	return p != nil && p.pub == k && p.e == k.E && k.N != nil && p.m.is(k.N) && !fips140.Enabled()
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
	k := p.m.size
	if len(sig) != k {
		return errRSAVerification
	}
	t := len(prefix) + len(hashed)
	if k < t+11 {
		return errRSAVerification
	}
	// expVarTime refuses a signature that is not below N, as crypto/rsa does.
	var buf [MaxRSABits / 8]byte
	em := buf[:k]
	if !p.m.expVarTime(em, sig, uint(p.e)) {
		return errRSAVerification
	}
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
