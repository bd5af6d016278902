// Package httpx holds the small HTTP helpers the issuer's server and the
// gate share: request IDs that are safe to log, and a response writer that
// remembers its status for metrics and logs.
//
// It imports the standard library only: it must never import issuer,
// server, gate or verifier, which import it.
package httpx

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
)

// MaxRequestIDLen bounds a request ID taken from X-Request-Id.
const MaxRequestIDLen = 64

// RequestIDs generates request IDs: 16 hex characters, never the same twice
// from one generator (for 2^64 calls) and random-looking, without a call to
// the system's random source per request. Request IDs tie log lines
// together; they are not secrets, and nothing may rely on them being
// unpredictable. Create one per handler with [NewRequestIDs]; it is safe
// for concurrent use. The package keeps no generator of its own: no
// package state.
type RequestIDs struct {
	base  uint64 // random start, so that two processes give different IDs
	count atomic.Uint64
}

// NewRequestIDs returns a generator whose IDs start from 8 bytes of
// random; nil means crypto/rand.Reader. It fails only when random fails.
func NewRequestIDs(random io.Reader) (*RequestIDs, error) {
	if random == nil {
		random = rand.Reader
	}
	var b [8]byte
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return nil, fmt.Errorf("httpx: seeding request IDs: %w", err)
	}
	return &RequestIDs{base: binary.LittleEndian.Uint64(b[:])}, nil
}

// New returns a new request ID of 16 hex characters.
func (g *RequestIDs) New() string {
	// A Weyl sequence (an odd step visits every value once) through the
	// SplitMix64 finalizer, which is a bijection: distinct counts give
	// distinct IDs.
	x := g.base + g.count.Add(1)*0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	x ^= x >> 31
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], x)
	var s [16]byte
	hex.Encode(s[:], b[:])
	return string(s[:])
}

// FromRequest returns the request's X-Request-Id when it is sane (1 to 64
// characters among letters, digits and "-_.:"), else a new one (see
// [RequestIDs.New]), so that a client cannot write arbitrary text into the
// logs.
func (g *RequestIDs) FromRequest(r *http.Request) string {
	if id := headerRequestID(r.Header); SaneRequestID(id) {
		return id
	}
	return g.New()
}

// RequestID returns the request's X-Request-Id when it is sane, else a new
// ID of 16 hex characters read from crypto/rand. A handler on a hot path
// should hold one [RequestIDs] and call [RequestIDs.FromRequest] instead,
// which costs no call to the system's random source per request.
func RequestID(r *http.Request) string {
	if id := headerRequestID(r.Header); SaneRequestID(id) {
		return id
	}
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// headerRequestID returns the first X-Request-Id value of h, or "", as
// h.Get("X-Request-Id") does, without canonicalizing the name on every
// request: it is canonical already, and net/http stores the names of
// incoming headers canonical.
func headerRequestID(h http.Header) string {
	if v := h["X-Request-Id"]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// SaneRequestID reports whether id may be used as a request ID.
func SaneRequestID(id string) bool {
	if id == "" || len(id) > MaxRequestIDLen {
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

// StatusRecorder is a ResponseWriter that remembers the status the handler
// answered with.
type StatusRecorder struct {
	http.ResponseWriter
	status int
}

// NewStatusRecorder wraps w.
func NewStatusRecorder(w http.ResponseWriter) *StatusRecorder {
	return &StatusRecorder{ResponseWriter: w}
}

// WriteHeader records the first status and passes it on.
func (w *StatusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200 and passes the body on.
func (w *StatusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Status returns the status answered so far; 200 when the handler wrote
// nothing, as net/http then answers.
func (w *StatusRecorder) Status() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *StatusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
