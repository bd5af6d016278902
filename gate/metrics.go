package gate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"time"
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

// RequestID returns the request ID the gate gave the request whose context
// is ctx, or "". Log handlers use it to put request_id on every line.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// maxRequestIDLen bounds a request ID taken from X-Request-Id.
const maxRequestIDLen = 64

// requestID returns the request's X-Request-Id when it is sane (1 to 64
// characters among letters, digits and "-_.:"), else a new random one, so
// that a client cannot write arbitrary text into the logs.
func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); saneRequestID(id) {
		return id
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// saneRequestID reports whether id may be used as a request ID.
func saneRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

// statusRecorder remembers the status a handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe gives every request an ID — the X-Request-Id of the response and
// of the request passed upstream, and [RequestID] of its context — and
// reports its latency under route(r) to obs, when set.
func observe(h http.Handler, obs HTTPObserver, route func(*http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := requestID(r)
		r.Header.Set("X-Request-Id", id)
		w.Header().Set("X-Request-Id", id)
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
		rt := route(r)
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if obs != nil {
			if rec.status == 0 {
				rec.status = http.StatusOK
			}
			obs.ObserveRequest(rt, rec.status, time.Since(start))
		}
	})
}
