package server

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/keyward/keyward/internal/httpx"
)

// HTTPObserver receives the latency of every request, typically for a
// histogram. route is the pattern the request matched ("POST /token"), never
// the raw path, so that its values are a bounded set. Its methods must be
// safe for concurrent use.
type HTTPObserver interface {
	ObserveRequest(route string, status int, d time.Duration)
}

// observe wraps the handler of pattern: it records the latency with the
// configured observer and logs one debug line per request with its ID.
func (s *Server) observe(pattern string, h http.HandlerFunc) http.HandlerFunc {
	obs := s.cfg.Metrics
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := httpx.NewStatusRecorder(w)
		h(rec, r)
		d := time.Since(start)
		if obs != nil {
			obs.ObserveRequest(pattern, rec.Status(), d)
		}
		if s.log.Enabled(r.Context(), slog.LevelDebug) {
			s.log.LogAttrs(r.Context(), slog.LevelDebug, "request",
				slog.String("request_id", httpx.RequestIDFrom(r.Context())),
				slog.String("method", r.Method), slog.String("route", pattern),
				slog.Int("status", rec.Status()), slog.Duration("duration", d))
		}
	}
}
