package httpx

import "context"

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
