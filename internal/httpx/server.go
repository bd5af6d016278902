package httpx

import (
	"log/slog"
	"net/http"
	"time"
)

// Profile names a set of http.Server limits for [NewServer].
type Profile int

// The profiles of [NewServer]. Each sets the four timeouts and the header
// cap; no profile leaves a timeout at zero, which would let a slow client
// hold a connection open for ever.
const (
	// ProfileAPI suits an API with small bodies and quick answers, such as
	// the issuer: 5 s to read the headers, 10 s for the whole request, 15 s
	// to write the answer, 60 s idle, 16 KiB of headers.
	ProfileAPI Profile = iota
	// ProfileProxy suits a reverse proxy whose upstream may stream or
	// answer slowly, such as the gate: 5 s to read the headers, 30 s for
	// the whole request, 60 s to write the answer, 120 s idle, 64 KiB of
	// headers.
	ProfileProxy
)

// limits are the values of one Profile.
type limits struct {
	readHeader, read, write, idle time.Duration
	maxHeaderBytes                int
}

func (p Profile) limits() limits {
	if p == ProfileProxy {
		return limits{5 * time.Second, 30 * time.Second, 60 * time.Second, 120 * time.Second, 64 << 10}
	}
	return limits{5 * time.Second, 10 * time.Second, 15 * time.Second, 60 * time.Second, 16 << 10}
}

// NewServer returns an http.Server for h with the timeouts and header cap
// of profile p, logging its own errors (TLS handshakes, malformed requests)
// to logger at Warn level; nil logger means net/http's default. The caller
// sets Addr, BaseContext or TLSConfig when it needs them. An unknown
// profile gets ProfileAPI's limits, the stricter ones.
func NewServer(h http.Handler, logger *slog.Logger, p Profile) *http.Server {
	l := p.limits()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.readHeader,
		ReadTimeout:       l.read,
		WriteTimeout:      l.write,
		IdleTimeout:       l.idle,
		MaxHeaderBytes:    l.maxHeaderBytes,
	}
	if logger != nil {
		srv.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	}
	return srv
}
