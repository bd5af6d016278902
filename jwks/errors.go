package jwks

import "errors"

// Error categories, tested with [errors.Is]. The wrapped messages name the
// URL and the reason (status, size, timeout, parse error) and never include
// the body of a response.
var (
	// ErrFetch reports a failed fetch of a key set: a network error, a
	// timeout, a status other than 200, a body that is too large, not JSON
	// or not a usable public JWK Set.
	ErrFetch = errors.New("jwks: fetch failed")
	// ErrDiscovery reports issuer metadata that cannot be read or does not
	// match the configured issuer.
	ErrDiscovery = errors.New("jwks: discovery failed")
	// ErrUnavailable reports that the key source has no set to offer: none
	// was ever fetched, or the last good one is older than the maximum
	// staleness. Verifiers must fail closed on it, and should answer 503
	// rather than 401: the token may be fine.
	ErrUnavailable = errors.New("jwks: key source unavailable")
)
