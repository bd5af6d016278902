package issuer

import (
	"errors"
	"time"
)

// OAuth 2.0 error codes (RFC 6749 §5.2, RFC 7009 §2.2.1, RFC 8628 §3.5).
const (
	CodeInvalidRequest         = "invalid_request"
	CodeInvalidClient          = "invalid_client"
	CodeInvalidGrant           = "invalid_grant"
	CodeUnauthorizedClient     = "unauthorized_client"
	CodeUnsupportedGrantType   = "unsupported_grant_type"
	CodeInvalidScope           = "invalid_scope"
	CodeUnsupportedTokenType   = "unsupported_token_type"
	CodeSlowDown               = "slow_down"
	CodeServerError            = "server_error"
	CodeTemporarilyUnavailable = "temporarily_unavailable"
)

// Error is a failure the client is told about: an RFC 6749 §5.2 error code
// and a description that reveals no secret and does not tell an unknown user
// from a wrong password. Err, when set, is the underlying cause, for the log
// only.
type Error struct {
	// Code is the OAuth 2.0 error code, one of the Code* constants.
	Code string
	// Description is the error_description shown to the client.
	Description string
	// RetryAfter, for CodeSlowDown, is how long the client should wait.
	RetryAfter time.Duration
	// Err is the cause, logged but never sent.
	Err error
}

// Error returns the code, the description and the cause.
func (e *Error) Error() string {
	s := e.Code
	if e.Description != "" {
		s += ": " + e.Description
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// oauthError returns an *Error with the code and description.
func oauthError(code, description string, cause error) *Error {
	return &Error{Code: code, Description: description, Err: cause}
}

// ErrNoSigningKey means the key manager holds no active signing key yet, so
// no token can be issued; readiness checks report it.
var ErrNoSigningKey = errors.New("issuer: no active signing key")

// ErrKeyNotFound means a key ID named in a key operation is not stored.
var ErrKeyNotFound = errors.New("issuer: signing key not found")

// ErrStaticKey means a key operation was asked of a manager running with one
// static key, which never rotates.
var ErrStaticKey = errors.New("issuer: the signing key is static")

// ErrMasterKey means a sealed private key could not be opened: the master key
// is not the one it was sealed with, or the ciphertext was altered.
var ErrMasterKey = errors.New("issuer: cannot open a sealed private key (wrong master key?)")
