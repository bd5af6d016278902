package keyward

import (
	"errors"
	"fmt"
)

// Error codes carried by [Error]. They name categories of failure, not causes:
// the HTTP layer maps each code to one status and clients see no more than the
// code and the message.
const (
	// ECONFLICT means the operation would violate a uniqueness rule, such as
	// a second user with the same username or a client assertion replayed.
	ECONFLICT = "conflict"
	// EINTERNAL means an unexpected failure; its details belong in the log,
	// never in a response.
	EINTERNAL = "internal"
	// EINVALID means the input or the state of the entity makes the operation
	// invalid: a reused, revoked or expired grant, or a malformed value.
	EINVALID = "invalid"
	// ENOTFOUND means the entity does not exist.
	ENOTFOUND = "not_found"
	// ENOTIMPLEMENTED means the operation is not supported by this component.
	ENOTIMPLEMENTED = "not_implemented"
	// EUNAUTHORIZED means the caller could not be authenticated or is not
	// allowed to perform the operation.
	EUNAUTHORIZED = "unauthorized"
	// EUNAVAILABLE means a dependency (the store's database) cannot be
	// reached now; the same request may succeed later, so clients are told
	// to retry (503 with Retry-After).
	EUNAVAILABLE = "unavailable"
)

// Error is a categorised error: Code is one of the E* constants and Message is
// safe to show to the client. Wrap an *Error with fmt.Errorf("...: %w", err) to
// add detail for the log; [ErrorCode] and [ErrorMessage] still find it.
type Error struct {
	// Code is the category, one of the E* constants.
	Code string
	// Message is a human-readable description that reveals no secret.
	Message string
}

// Error returns the message, or the code when the message is empty.
func (e *Error) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return "keyward: " + e.Code
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, "" for a nil
// err, and [EINTERNAL] for any other error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of the first *Error in err's chain, "" for
// a nil err, and a generic message for any other error, so that unexpected
// details (driver errors, file paths) never reach a client.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Error()
	}
	return "keyward: internal error"
}

// Sentinel errors returned by the stores. Test for them with [errors.Is]; the
// stores wrap them with context (fmt.Errorf("...: %w", ErrNotFound)).
var (
	// ErrNotFound means the entity does not exist.
	ErrNotFound = &Error{Code: ENOTFOUND, Message: "keyward: not found"}

	// ErrConflict means the entity already exists (a duplicate ID, username,
	// token hash) or a one-time value was presented again.
	ErrConflict = &Error{Code: ECONFLICT, Message: "keyward: conflict"}

	// ErrRefreshReused means a refresh token that had already been used was
	// presented again. Per RFC 9700 §4.14.2 this signals a possible theft: the
	// store has revoked the token's whole family by the time it returns this.
	ErrRefreshReused = &Error{Code: EINVALID, Message: "keyward: refresh token reused"}

	// ErrCodeReused means an authorization code was presented a second time
	// (RFC 6749 §4.1.2). The store returns the code along with this error so
	// the issuer can revoke the tokens issued on its first use.
	ErrCodeReused = &Error{Code: EINVALID, Message: "keyward: authorization code reused"}

	// ErrRevoked means the token, family or session has been revoked.
	ErrRevoked = &Error{Code: EINVALID, Message: "keyward: revoked"}

	// ErrExpired means the token, code or session is past its expiry.
	ErrExpired = &Error{Code: EINVALID, Message: "keyward: expired"}

	// ErrInvalid means the value handed to a store breaks its contract (an
	// empty ID, a missing hash, a duplicate key ID in one set).
	ErrInvalid = &Error{Code: EINVALID, Message: "keyward: invalid value"}

	// ErrUnavailable means the store cannot reach its database now (the
	// connection was refused, reset or timed out). Backends wrap the driver's
	// error with it at their edge; the request may be retried.
	ErrUnavailable = &Error{Code: EUNAVAILABLE, Message: "keyward: store unavailable"}

	// ErrNoChange is returned by an update function given to
	// [KeyStore.UpdateKeys] or [UserStore.UpdateUser] to say that nothing needs
	// to be written. The store then commits nothing and returns nil.
	ErrNoChange = errors.New("keyward: no change")
)
