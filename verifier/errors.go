package verifier

import (
	"errors"

	"github.com/keyward/keyward/dpop"
	"github.com/keyward/keyward/jose"
)

// Error categories of this package, besides those of [jose] that
// [Verifier.Verify] returns unchanged (jose.ErrExpired, jose.ErrSignature...).
var (
	// ErrKeySourceUnavailable reports that the key source could not give
	// keys: a remote set never fetched or older than its maximum staleness.
	// The token may be valid; the answer is 503, not 401.
	ErrKeySourceUnavailable = errors.New("verifier: key source unavailable")
	// ErrNoToken reports a request without bearer credentials (RFC 6750
	// §3.1: no error code in the challenge).
	ErrNoToken = errors.New("verifier: no bearer token")
	// ErrInvalidRequest reports an Authorization header that is not a
	// single well-formed Bearer credential (RFC 6750 §3.1 invalid_request).
	ErrInvalidRequest = errors.New("verifier: malformed bearer credentials")
	// ErrInsufficientScope reports a verified token that lacks a scope or
	// role the route requires (RFC 6750 §3.1 insufficient_scope).
	ErrInsufficientScope = errors.New("verifier: insufficient scope")
)

// categories maps each error category to a description that is safe to
// show to the client: it names the category, never key material, claim
// values or the token.
var categories = [...]struct {
	err  error
	desc string
}{
	{ErrDPoPRequired, "DPoP-bound token required"},
	{ErrBoundAsBearer, "DPoP-bound token sent as Bearer"},
	{ErrNotBound, "token not DPoP-bound"},
	{dpop.ErrUseNonce, "DPoP nonce required"},
	{dpop.ErrReplayCacheFull, "DPoP replay cache full"},
	{dpop.ErrKeyQuota, "too many DPoP proofs of one key"},
	{dpop.ErrReplay, "DPoP proof replayed"},
	{dpop.ErrNoProof, "DPoP proof missing"},
	{dpop.ErrKeyMismatch, "DPoP proof key not bound to the token"},
	{dpop.ErrInvalidProof, "DPoP proof invalid"},
	{ErrKeySourceUnavailable, "key source unavailable"},
	{ErrNoToken, "bearer token required"},
	{ErrInvalidRequest, "malformed Authorization header"},
	{ErrInsufficientScope, "insufficient scope"},
	{ErrRevoked, "token revoked"},
	{jose.ErrTooLarge, "token too large"},
	{jose.ErrMalformed, "token malformed"},
	{jose.ErrUnsupported, "token header not supported"},
	{jose.ErrAlgorithmNotAllowed, "algorithm not allowed"},
	{jose.ErrKeyNotFound, "signing key not found"},
	{jose.ErrSignature, "signature invalid"},
	{jose.ErrInvalidKey, "signing key unusable"},
	{jose.ErrExpired, "token expired"},
	{jose.ErrNotYetValid, "token not yet valid"},
	{jose.ErrIssuer, "issuer not accepted"},
	{jose.ErrAudience, "audience not accepted"},
	{jose.ErrMissingClaim, "required claim missing"},
	{jose.ErrType, "token type not accepted"},
}

// Description returns a short description of err's category that is safe to
// send to an untrusted client ("token expired", "signature invalid",
// "audience not accepted"...). Log the error itself for the precise reason.
func Description(err error) string {
	for _, c := range categories {
		if errors.Is(err, c.err) {
			return c.desc
		}
	}
	return "token invalid"
}
