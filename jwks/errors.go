package jwks

import (
	"errors"
	"time"
)

// Error categories, tested with [errors.Is]. The wrapped messages name the
// URL and the reason (status, size, timeout, parse error) and never include
// the body of a response.
var (
	// ErrFetch reports a failed fetch of a key set: a network error, a
	// timeout, a status other than 200, a body that is too large, not JSON
	// or not a usable public JWK Set, or a redirect to another scheme or
	// host.
	ErrFetch = errors.New("jwks: fetch failed")
	// ErrDiscovery reports issuer metadata that cannot be read or does not
	// match the configured issuer.
	ErrDiscovery = errors.New("jwks: discovery failed")
	// ErrUnavailable reports that the key source has no set to offer: none
	// was ever fetched, or the last good one is older than the maximum
	// staleness. Verifiers must fail closed on it, and should answer 503
	// rather than 401: the token may be fine. The error that carries it is
	// an [*UnavailableError], which says when to retry.
	ErrUnavailable = errors.New("jwks: key source unavailable")
)

// UnavailableError is the error [Set.Keys] and [Set.Ready] return while the
// Set has no usable key set (never fetched, or past MaxStale). It matches
// [ErrUnavailable] with [errors.Is], and also the last fetch error (so
// [ErrFetch] or [ErrDiscovery]) when there is one. Callers must fail closed
// on it; a server answers 503 with Retry-After taken from RetryAfter.
type UnavailableError struct {
	// Reason says why no usable set exists, without key material or
	// response bodies: "no key set fetched yet", or the age of the last
	// good set and the MaxStale limit.
	Reason string
	// NextAttempt is when the next fetch may start, on the Set's clock: a
	// request arriving then starts it (and [Set.Run] does so on its own).
	// It is never before the time the error was made.
	NextAttempt time.Time
	// RetryAfter is NextAttempt less the time the error was made: how long
	// a client should wait before it tries again. Zero means that an attempt
	// may start at once (one is due, or was just made and failed). A
	// server sends it as Retry-After rounded up to whole seconds, and at
	// least 1.
	RetryAfter time.Duration
	// Err is the error of the last fetch when it failed, or nil.
	Err error
}

// Error describes the outage: the category, the reason and the last fetch
// error.
func (e *UnavailableError) Error() string {
	msg := ErrUnavailable.Error() + ": " + e.Reason
	if e.Err != nil {
		msg += "; last fetch: " + e.Err.Error()
	}
	return msg
}

// Unwrap returns [ErrUnavailable] and, when there is one, the last fetch
// error.
func (e *UnavailableError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrUnavailable}
	}
	return []error{ErrUnavailable, e.Err}
}
