package server

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"time"

	"github.com/keyward/keyward/issuer"
)

// HTTPObserver receives the latency of every request, typically for a
// histogram. route is the pattern the request matched ("POST /token"), never
// the raw path, so that its values are a bounded set. Its methods must be
// safe for concurrent use.
type HTTPObserver interface {
	ObserveRequest(route string, status int, d time.Duration)
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

// observe wraps the handler of pattern: it records the latency with the
// configured observer and logs one debug line per request with its ID.
func (s *Server) observe(pattern string, h http.HandlerFunc) http.HandlerFunc {
	obs := s.cfg.Metrics
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		h(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		d := time.Since(start)
		if obs != nil {
			obs.ObserveRequest(pattern, rec.status, d)
		}
		if s.log.Enabled(r.Context(), slog.LevelDebug) {
			s.log.LogAttrs(r.Context(), slog.LevelDebug, "request",
				slog.String("request_id", issuer.RequestID(r.Context())),
				slog.String("method", r.Method), slog.String("route", pattern),
				slog.Int("status", rec.status), slog.Duration("duration", d))
		}
	}
}
