package server

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/issuer"
)

// TestAnswerFor checks the one table from errors to HTTP answers: status,
// RFC 6749 §5.2 body, Retry-After and WWW-Authenticate.
func TestAnswerFor(t *testing.T) {
	t.Parallel()
	const generic = "the server could not complete the request"
	const retry = "the service is temporarily unavailable; retry later"
	const basicChallenge = `Basic realm="keyward", charset="UTF-8"`
	unavailable := fmt.Errorf("get user: dial tcp: connection refused: %w", keyward.ErrUnavailable)
	tests := []struct {
		name       string
		err        error
		status     int
		code, desc string
		retryAfter string
		challenge  string
	}{
		{name: "store unavailable", err: keyward.ErrUnavailable, status: 503, code: "temporarily_unavailable", desc: retry, retryAfter: "5"},
		{name: "store unavailable under server_error", err: &issuer.Error{Code: issuer.CodeServerError, Description: generic, Err: unavailable},
			status: 503, code: "temporarily_unavailable", desc: retry, retryAfter: "5"},
		{name: "store unavailable under temporarily_unavailable", err: &issuer.Error{Code: issuer.CodeTemporarilyUnavailable, Description: "the store is unreachable", Err: unavailable},
			status: 503, code: "temporarily_unavailable", desc: "the store is unreachable", retryAfter: "5"},
		{name: "unavailable code", err: keyward.Errorf(keyward.EUNAVAILABLE, "replica lost"), status: 503, code: "temporarily_unavailable", desc: retry, retryAfter: "5"},

		{name: "method", err: errMethod, status: 405, code: "invalid_request", desc: "method not allowed"},
		{name: "too large", err: fmt.Errorf("read: %w", errTooLarge), status: 413, code: "invalid_request", desc: "request body too large"},
		{name: "not form", err: errNotForm, status: 415, code: "invalid_request", desc: "Content-Type must be application/x-www-form-urlencoded"},
		{name: "not JSON or form", err: errNotJSONOrForm, status: 415, code: "invalid_request", desc: "Content-Type must be application/json or application/x-www-form-urlencoded"},
		{name: "unreadable body", err: errUnreadable, status: 400, code: "invalid_request", desc: "cannot read the request body"},
		{name: "no route", err: errNoRoute, status: 404, code: "not_found", desc: "no such endpoint"},
		{name: "no feed", err: errNoFeed, status: 404, code: "not_found", desc: "this issuer publishes no revocation feed"},

		{name: "invalid_client", err: &issuer.Error{Code: issuer.CodeInvalidClient, Description: "client authentication failed"},
			status: 401, code: "invalid_client", desc: "client authentication failed", challenge: basicChallenge},
		{name: "slow_down", err: &issuer.Error{Code: issuer.CodeSlowDown, Description: "wait", RetryAfter: 2500 * time.Millisecond},
			status: 429, code: "slow_down", desc: "wait", retryAfter: "3"},
		{name: "slow_down without a wait", err: &issuer.Error{Code: issuer.CodeSlowDown, Description: "wait"}, status: 429, code: "slow_down", desc: "wait"},
		{name: "server_error", err: &issuer.Error{Code: issuer.CodeServerError, Description: generic, Err: errors.New("disk full")},
			status: 500, code: "server_error", desc: generic},
		{name: "server_error over a domain error", err: &issuer.Error{Code: issuer.CodeServerError, Description: generic, Err: keyward.ErrNotFound},
			status: 500, code: "server_error", desc: generic},
		{name: "temporarily_unavailable", err: &issuer.Error{Code: issuer.CodeTemporarilyUnavailable, Description: "no signing key is active"},
			status: 503, code: "temporarily_unavailable", desc: "no signing key is active"},
		{name: "invalid_grant", err: fmt.Errorf("refresh: %w", &issuer.Error{Code: issuer.CodeInvalidGrant, Description: "expired"}),
			status: 400, code: "invalid_grant", desc: "expired"},
		{name: "unsupported_grant_type", err: &issuer.Error{Code: issuer.CodeUnsupportedGrantType, Description: "no"}, status: 400, code: "unsupported_grant_type", desc: "no"},

		{name: "domain invalid", err: keyward.ErrInvalid, status: 400, code: "invalid_request", desc: "keyward: invalid value"},
		{name: "domain not found", err: fmt.Errorf("client x: %w", keyward.ErrNotFound), status: 404, code: "not_found", desc: "keyward: not found"},
		{name: "domain conflict", err: keyward.ErrConflict, status: 409, code: "invalid_request", desc: "keyward: conflict"},
		{name: "domain unauthorized", err: keyward.Errorf(keyward.EUNAUTHORIZED, "no"), status: 401, code: "invalid_client", desc: "no", challenge: basicChallenge},
		{name: "domain not implemented", err: keyward.Errorf(keyward.ENOTIMPLEMENTED, "no DPoP"), status: 501, code: "invalid_request", desc: "no DPoP"},
		{name: "domain internal", err: keyward.Errorf(keyward.EINTERNAL, "secret path /var/lib/x"), status: 500, code: "server_error", desc: generic},
		{name: "foreign error", err: errors.New("pq: connection refused at 10.0.0.1"), status: 500, code: "server_error", desc: generic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := answerFor(tt.err)
			if a.status != tt.status || a.code != tt.code || a.desc != tt.desc {
				t.Errorf("answerFor = %d %q %q, want %d %q %q", a.status, a.code, a.desc, tt.status, tt.code, tt.desc)
			}
			h := http.Header{}
			a.setHeaders(h)
			if got := h.Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.retryAfter)
			}
			if got := h.Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.challenge)
			}
		})
	}
}
