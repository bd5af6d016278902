package issuer

import (
	"context"
	"encoding/base64"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/jose"
)

// DPoP error codes (RFC 9449 §12.2).
const (
	// CodeInvalidDPoPProof is the error of a token request whose DPoP
	// proof is missing where one is required, or is invalid (RFC 9449 §5),
	// and of a protected resource's refusal of a proof (RFC 9449 §7.1).
	CodeInvalidDPoPProof = "invalid_dpop_proof"
	// CodeUseDPoPNonce asks the client to send its proof again with the
	// nonce of the DPoP-Nonce response header (RFC 9449 §8).
	CodeUseDPoPNonce = "use_dpop_nonce"
)

// Token types of a token response (RFC 6749 §7.1) and of an introspection
// response (RFC 7662 §2.2).
const (
	// TokenTypeBearer is an access token that works for whoever holds it
	// (RFC 6750).
	TokenTypeBearer = "Bearer"
	// TokenTypeDPoP is an access token bound to a DPoP key: it works only
	// with a proof signed by that key (RFC 9449 §5).
	TokenTypeDPoP = "DPoP"
)

// ClaimConfirmation is the cnf claim (RFC 7800 §3.1) of a DPoP-bound access
// token; its member [ConfirmationJKT] holds the key's thumbprint (RFC 9449
// §6.1).
const (
	ClaimConfirmation = "cnf"
	ConfirmationJKT   = "jkt"
)

// ValidJKT reports whether s has the form of a JWK SHA-256 thumbprint
// (RFC 7638) as DPoP carries it in cnf.jkt and dpop_jkt: 43 unpadded
// base64url characters encoding 32 bytes. Only the form is checked; a
// thumbprint names a key but proves nothing about it.
func ValidJKT(s string) bool {
	if len(s) != 43 {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil && len(b) == 32
}

// requireProof refuses a token request of client c carrying no DPoP proof
// (jkt empty) when the client is registered with dpop_bound_access_tokens
// ([keyward.Client.RequireDPoP]): by RFC 9449 §5.2, the authorization
// server must then reject every token request of the client without a DPoP
// header, and a missing proof is answered like an invalid one (RFC 9449 §5:
// invalid_dpop_proof).
func requireProof(c keyward.Client, jkt string) error {
	if c.RequireDPoP && jkt == "" {
		return oauthError(CodeInvalidDPoPProof, "the client must send a DPoP proof with every token request", nil)
	}
	return nil
}

// checkGrantBinding refuses a grant (a refresh token, an authorization code)
// bound to the key with thumbprint bound when the request's proof, of the
// key jkt, is of another key or missing. RFC 9449 §5 (a public client's
// refresh token must be bound to the proof's key, and the binding must be
// checked each time the token is presented) and §10 (a code requested with
// dpop_jkt must be refused unless the proof's key has that thumbprint) name
// no error code; the proof itself may be valid, so the refusal is the
// grant's: invalid_grant, which RFC 6749 §5.2 defines for a grant that is
// invalid or does not match the request.
func checkGrantBinding(bound, jkt, what string) error {
	if bound == "" || bound == jkt {
		return nil
	}
	if jkt == "" {
		return oauthError(CodeInvalidGrant, "the "+what+" is bound to a DPoP key: send a DPoP proof signed by it", nil)
	}
	return oauthError(CodeInvalidGrant, "the "+what+" is bound to another DPoP key", nil)
}

// refreshBinding returns the thumbprint a new refresh token issued to a
// client is bound to, given the key jkt of the request's proof: the proof's
// key for a public client (RFC 9449 §5: a refresh token issued to a public
// client that presents a valid proof must be bound to its key), none for a
// confidential client, whose refresh tokens its own credentials already
// constrain (RFC 9449 §5 leaves them unbound).
func refreshBinding(public bool, jkt string) string {
	if public {
		return jkt
	}
	return ""
}

// confirmation returns the cnf claim value binding an access token to the
// key with the thumbprint jkt (RFC 9449 §6.1). It is the form that package
// dpop reads at verifiers, as the issuer does, with
// [jose.Claims.ConfirmationJKT].
func confirmation(jkt string) map[string]any {
	return map[string]any{ConfirmationJKT: jkt}
}

// checkPresentation checks how an access token issued here was presented to
// a resource of the issuer, jkt being the thumbprint of the key of the proof
// it came with (RFC 9449 §7.1), empty for a bearer token: a bound token
// (cnf.jkt) needs a proof of its key, and is refused as invalid_token when
// presented as a bearer token, so that a stolen bound token is of no use
// without its key; a token that is not bound is refused with a proof, as
// nothing binds it to the proof's key.
func checkPresentation(tok *jose.Token, jkt string) error {
	bound, err := tok.Claims.ConfirmationJKT()
	switch {
	case err != nil:
		return oauthError(CodeInvalidToken, "the access token is invalid or expired", err)
	case bound == "" && jkt != "":
		return oauthError(CodeInvalidToken, "the access token is not DPoP-bound: present it with the Bearer scheme", nil)
	case bound == "":
		return nil
	case jkt == "":
		return oauthError(CodeInvalidToken, "the access token is DPoP-bound: present it with the DPoP scheme and a proof", nil)
	case bound != jkt:
		return oauthError(CodeInvalidDPoPProof, "the DPoP proof is not signed by the key the access token is bound to", nil)
	}
	return nil
}

// UserInfoDPoP is [Issuer.UserInfo] for an access token presented with a
// DPoP proof whose key has the thumbprint jkt, already checked by the
// caller (its signature, htm, htu, iat, jti, nonce, and ath, the hash of
// this access token), or with none (jkt empty, a bearer token). A token
// bound to a key (cnf.jkt) needs a proof of that key: without one it
// fails with [CodeInvalidToken], with one of another key with
// [CodeInvalidDPoPProof] (RFC 9449 §7.1). A token that is not bound fails
// with a proof ([CodeInvalidToken]).
func (i *Issuer) UserInfoDPoP(ctx context.Context, accessToken, jkt string) (map[string]any, error) {
	tok, err := i.verifyAccessToken(ctx, accessToken)
	if err != nil {
		return nil, err
	}
	if err := checkPresentation(tok, jkt); err != nil {
		return nil, err
	}
	return i.userInfo(ctx, tok)
}

// UserInfoProof is [Issuer.UserInfo] for an access token presented with
// the DPoP scheme (RFC 9449 §7.1). It verifies the token first and reads
// the key it is bound to (cnf.jkt), and only then calls prove with that
// key's thumbprint to check the request's proof, so that a proof sent with
// a token that does not verify, or made with another key than the bound
// one, never reaches the replay cache that prove records it in: anyone
// could otherwise fill that cache with proofs of keys of their own. A
// token that is not bound fails with [CodeInvalidToken]; prove's error is
// returned as it is.
func (i *Issuer) UserInfoProof(ctx context.Context, accessToken string, prove func(jkt string) error) (map[string]any, error) {
	tok, err := i.verifyAccessToken(ctx, accessToken)
	if err != nil {
		return nil, err
	}
	bound, err := tok.Claims.ConfirmationJKT()
	switch {
	case err != nil:
		return nil, oauthError(CodeInvalidToken, "the access token is invalid or expired", err)
	case bound == "":
		return nil, oauthError(CodeInvalidToken, "the access token is not DPoP-bound: present it with the Bearer scheme", nil)
	}
	if err := prove(bound); err != nil {
		return nil, err
	}
	return i.userInfo(ctx, tok)
}

// DPoPNonceKey derives the secret of the DPoP server nonces (RFC 9449 §8)
// from the master key with HKDF-SHA-256, under a label of its own, so that
// the nonces need no stored secret and every replica that shares the
// master key makes and accepts the same nonces. Whoever holds the secret
// can make nonces for any future period, which only the master key's
// holders can.
func DPoPNonceKey(masterKey []byte) ([]byte, error) {
	return masterSubkey(masterKey, "keyward dpop nonce v1", 32)
}
