// Package httpx holds the small HTTP helpers the issuer's server and the
// gate share: request IDs that are safe to log, and a response writer that
// remembers its status for metrics and logs.
package httpx

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
)

// MaxRequestIDLen bounds a request ID taken from X-Request-Id.
const MaxRequestIDLen = 64

// RequestID returns the request's X-Request-Id when it is sane (1 to 64
// characters among letters, digits and "-_.:"), else a new random one of 16
// hex characters, so that a client cannot write arbitrary text into the logs.
func RequestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); SaneRequestID(id) {
		return id
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
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
