package httpx

import (
	"context"
	"net/http"
)

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

// WithRequestID returns a copy of ctx that carries the request ID id, for
// [RequestIDFrom]. The ID lands in logs: pass only IDs from [RequestIDs].
func WithRequestID(ctx context.Context, id string) context.Context {
	return &requestIDContext{Context: ctx, id: id}
}

// RequestIDFrom returns the request ID that [WithRequestID] put in ctx, or
// "". Log lines about a request carry it as request_id.
func RequestIDFrom(ctx context.Context) string {
	if c, ok := ctx.Value(requestIDKey{}).(*requestIDContext); ok {
		return c.id
	}
	return ""
}

// Observed is one request's state for a handler that observes it: the
// context that carries its request ID (see [WithRequestID]), the
// [StatusRecorder] of its response, and the value of the response's
// X-Request-Id header, in one allocation where they would take three.
type Observed struct {
	StatusRecorder
	// Route is the label under which the request is observed, set by the
	// handler that decides the request's route, so that the route is found
	// once. It must come from a bounded set, never from the raw path.
	Route string
	ctx   requestIDContext
	id    [1]string
}

// Observe returns the state of a request whose context is ctx, whose
// response goes to w and whose request ID is id. The ID lands in logs:
// pass only IDs from [RequestIDs].
func Observe(ctx context.Context, w http.ResponseWriter, id string) *Observed {
	o := &Observed{StatusRecorder: StatusRecorder{ResponseWriter: w}, ctx: requestIDContext{Context: ctx, id: id}}
	o.id[0] = id
	return o
}

// Context returns a copy of the request's context that carries its ID, for
// [RequestIDFrom].
func (o *Observed) Context() context.Context { return &o.ctx }

// IDHeader returns the request ID as a header value: a slice of one
// element, which the caller must not modify.
func (o *Observed) IDHeader() []string { return o.id[:] }
