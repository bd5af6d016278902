package gate

import "net/url"

// forwardCleanPath gives u, a request to forward under a policy, the
// cleaned path by which the policy matched it ([requestPath]) when its path
// is not clean: "/admin/../orders/1", "/admin/%2e%2e/orders/1" and
// "//orders/1" reach the upstream as "/orders/1". An upstream that does not
// remove dot segments or merge slashes itself (a handler that routes on the
// raw path) would otherwise serve another route than the one whose
// requirements the gate checked. A clean path is left as sent, its
// encoding ("%2F") included.
func forwardCleanPath(u *url.URL) {
	if clean, isClean, ok := requestPath(u.Path); ok && !isClean {
		u.Path, u.RawPath = clean, ""
	}
}
