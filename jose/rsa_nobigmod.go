//go:build keyward_nobigmod

package jose

import (
	"crypto"
	"crypto/rsa"
)

// rsaPublic is an RSA public key as the verification path sees it when the
// package is built with the keyward_nobigmod tag: never prepared. Without
// the tag, rsa.go keeps each key's Montgomery modulus prepared and verifies
// RS* signatures with keyward's own arithmetic (rsamont*.go); with it, none
// of that arithmetic is built and crypto/rsa, which receives the toolchain's
// fixes, checks every RSA signature, at the cost of rebuilding the modulus on
// every call. (The tag is named for filippo.io/bigmod, which the prepared
// path used before; it switches off whatever arithmetic that path runs.)
type rsaPublic struct {
	pub *rsa.PublicKey
}

// prepareRSA returns nil: with keyward_nobigmod no key is prepared, so every
// JWK verifies RSA signatures through crypto/rsa.
func prepareRSA(any) *rsaPublic { return nil }

// matches reports whether p was prepared from k; with keyward_nobigmod
// nothing is, so it is always false and verification takes crypto/rsa.
func (p *rsaPublic) matches(*rsa.PublicKey) bool { return false }

// verifyPKCS1v15 is rsa.VerifyPKCS1v15 on the key p holds.
func (p *rsaPublic) verifyPKCS1v15(hash crypto.Hash, hashed, sig []byte) error {
	return rsa.VerifyPKCS1v15(p.pub, hash, hashed, sig)
}
