package gate

import (
	"context"
	"net/http"
	"time"

	"github.com/keyward/keyward/internal/httpx"
)

// MetricsPath is where the gate serves Config.Metrics. It sits under
// /.keyward/ so that it does not shadow a route of the upstream.
const MetricsPath = "/.keyward/metrics"

// HTTPObserver receives the latency of every request, typically for a
// histogram. route is one of "health", "metrics" and "proxy" (or "demo"
// without an upstream) — with Config.Policies, the name of the policy's
// route that decides the request, or "unmatched" — never the raw path, so
// that its values are a bounded set. Its methods must be safe for concurrent use.
type HTTPObserver interface {
	ObserveRequest(route string, status int, d time.Duration)
}

// RequestID returns the request ID the gate gave the request whose context
// is ctx, or "". Log handlers use it to put request_id on every line.
func RequestID(ctx context.Context) string { return httpx.RequestIDFrom(ctx) }

// observe gives every request an ID — the X-Request-Id of the response and
// of the request passed upstream (see proxy), and [RequestID] of its
// context — and reports its latency to obs, when set, under the route that
// h sets in the observed state ([httpx.Observed.Route]). h gets the
// observed state whether obs is set or not; its response writer is that
// state only when obs is set.
func observe(h func(http.ResponseWriter, *http.Request, *httpx.Observed), ids *httpx.RequestIDs, obs HTTPObserver) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// The request's context, the status recorder and the header value
		// are one allocation: this runs for every request.
		o := httpx.Observe(r.Context(), w, ids.FromRequest(r))
		// The name is canonical: no need for Header.Set to check it.
		w.Header()["X-Request-Id"] = o.IDHeader()
		r = r.WithContext(o.Context())
		if obs == nil {
			h(w, r, o)
			return
		}
		h(o, r, o)
		obs.ObserveRequest(o.Route, o.Status(), time.Since(start))
	})
}
