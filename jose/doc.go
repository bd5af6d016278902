// Package jose is keyward's JOSE core: JSON Web Signature in compact form
// (RFC 7515), JSON Web Keys and key sets (RFC 7517, RFC 7518, RFC 8037),
// JWK thumbprints (RFC 7638), PEM keys and JSON Web Token claims with their
// validation (RFC 7519, RFC 8725).
//
// The package is strict by construction:
//
//   - Verification always takes a non-empty [AlgorithmSet]; its zero value
//     allows nothing, and "none" can never be part of it.
//   - A key fixes the algorithm it verifies: the JWK "alg" member, or the one
//     its type and curve imply ([JWK.Accepts]). A symmetric [SharedSecret] can
//     never stand in for a public key, so HS256 signed with a public key's bytes
//     never verifies.
//   - Tokens are size-capped before anything else, split into exactly three
//     segments, decoded as strict unpadded base64url and strict JSON
//     (duplicate member names and invalid UTF-8 are rejected).
//   - Keys are only looked up in the [KeySet] the caller gives; "jwk", "jku",
//     "x5u" and "x5c" header parameters are rejected, never followed, and so is
//     every "crit" parameter, since this package implements no extension.
//   - ECDSA signatures must be exactly R‖S of the curve's size with
//     0 < r, s < n; RSA keys under 2048 bits are refused.
//
// The package does no I/O, keeps no global state and never logs; it depends
// on the standard library, a strict JSON decoder and golang.org/x/sys/cpu
// (to choose its RSA assembly): a JWK keeps its RSA modulus prepared between
// verifications, instead of rebuilding it on every call as crypto/rsa does,
// and checks RS* signatures with Montgomery arithmetic of its own, for public
// data only. PSS signatures, and RSA keys in a JWK built as a literal, are
// checked by crypto/rsa itself, and so is everything when the Go FIPS 140-3
// mode is on.
//
// Everything else in keyward imports jose, so jose must never import another
// keyward package. Built with the keyward_nobigmod tag, it builds none of
// that arithmetic, does not link golang.org/x/sys/cpu either and crypto/rsa
// checks every RSA signature (see docs/security.md).
package jose
