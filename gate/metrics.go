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
// without an upstream), never the raw path, so that its values are a
// bounded set. Its methods must be safe for concurrent use.
type HTTPObserver interface {
	ObserveRequest(route string, status int, d time.Duration)
}

// requestIDKey is the context key of the request ID.
type requestIDKey struct{}

// requestIDContext carries the request ID: one allocation where
// context.WithValue takes two (the string boxed in an interface, and the
// context).
type requestIDContext struct {
	context.Context
	id string
}

// Value answers requestIDKey with the context itself, which costs no
// allocation, and asks the parent for any other key.
func (c *requestIDContext) Value(key any) any {
	if key == (requestIDKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// RequestID returns the request ID the gate gave the request whose context
// is ctx, or "". Log handlers use it to put request_id on every line.
func RequestID(ctx context.Context) string {
	if c, ok := ctx.Value(requestIDKey{}).(*requestIDContext); ok {
		return c.id
	}
	return ""
}

// observe gives every request an ID — the X-Request-Id of the response and
// of the request passed upstream (see proxy), and [RequestID] of its
// context — and reports its latency under route(r) to obs, when set.
func observe(h http.Handler, obs HTTPObserver, route func(*http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := httpx.RequestID(r)
		// The name is canonical: no need for Header.Set to check it.
		w.Header()["X-Request-Id"] = []string{id}
		r = r.WithContext(&requestIDContext{Context: r.Context(), id: id})
		if obs == nil {
			h.ServeHTTP(w, r)
			return
		}
		rt := route(r)
		rec := httpx.NewStatusRecorder(w)
		h.ServeHTTP(rec, r)
		obs.ObserveRequest(rt, rec.Status(), time.Since(start))
	})
}
