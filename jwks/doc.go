// Package jwks keeps a remote JSON Web Key Set (RFC 7517 §5) for verifiers:
// the only network code on the verifying side.
//
// [Fetch] and [Discover] are one-shot helpers. [Set] is the cache a
// long-running verifier holds: it fetches the set at a URL (or the jwks_uri
// of an issuer's metadata), keeps it for the lifetime the server announces
// in Cache-Control (clamped), revalidates with If-None-Match, refreshes in
// the background before the set expires, refreshes on an unknown key ID
// within a token bucket with every concurrent caller sharing that one fetch,
// and keeps serving the last good set while the issuer is down, up to a
// maximum staleness after which it fails closed with an [*UnavailableError]
// ([ErrUnavailable]) while it retries every second. Fetches follow no
// redirect to another scheme or host.
//
// The package never logs; [Set.Status] exposes the last fetch, its error
// and the keys that were skipped, and an [Observer] is told of every fetch,
// change and outage, for the caller's logs and metrics.
package jwks
