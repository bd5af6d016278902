package httpx

import "context"

// requestIDKey is the context key of the request ID.
type requestIDKey struct{}

// WithRequestID returns ctx carrying the request ID id, which
// [RequestIDFromContext] gives back to the handlers and log lines of the
// request.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFromContext returns the request ID carried by ctx (see
// [WithRequestID]), or "" when it carries none.
func RequestIDFromContext(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
