package jose

import "errors"

// Error categories. Every error returned by this package wraps exactly one of
// them, so callers can tell the categories apart with [errors.Is]; the wrapped
// message adds the precise reason, which is safe to log but may be too precise
// to show to an untrusted client.
var (
	// ErrMalformed reports a token, key or document that does not parse.
	ErrMalformed = errors.New("jose: malformed")
	// ErrTooLarge reports a token over the size limit; it is checked before
	// any parsing.
	ErrTooLarge = errors.New("jose: token too large")
	// ErrUnsupported reports a header parameter this package refuses:
	// an unknown "crit" extension or an embedded key reference
	// ("jwk", "jku", "x5u", "x5c").
	ErrUnsupported = errors.New("jose: unsupported header parameter")
	// ErrAlgorithmNotAllowed reports an algorithm outside the allowlist, or
	// one the selected key is not bound to.
	ErrAlgorithmNotAllowed = errors.New("jose: algorithm not allowed")
	// ErrKeyNotFound reports that the key set holds no key for the token.
	ErrKeyNotFound = errors.New("jose: key not found")
	// ErrSignature reports a signature that does not verify.
	ErrSignature = errors.New("jose: invalid signature")
	// ErrInvalidKey reports a key that is unusable: too small, off its curve,
	// of the wrong length or type for the requested algorithm.
	ErrInvalidKey = errors.New("jose: invalid key")

	// ErrExpired reports a token whose "exp" has passed.
	ErrExpired = errors.New("jose: token expired")
	// ErrNotYetValid reports a token whose "nbf" or "iat" lies in the future.
	ErrNotYetValid = errors.New("jose: token not yet valid")
	// ErrIssuer reports an "iss" claim that is not one of the accepted issuers.
	ErrIssuer = errors.New("jose: issuer not accepted")
	// ErrAudience reports an "aud" claim that names none of the accepted
	// audiences.
	ErrAudience = errors.New("jose: audience not accepted")
	// ErrMissingClaim reports that a required claim is absent.
	ErrMissingClaim = errors.New("jose: required claim missing")
	// ErrType reports a "typ" header that the policy does not accept.
	ErrType = errors.New("jose: token type not accepted")
)
