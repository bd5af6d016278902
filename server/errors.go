package server

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/issuer"
)

// UnavailableRetryAfter is the Retry-After of a 503 answered while the
// store cannot reach its database ([keyward.ErrUnavailable]): clients and
// load balancers retry after it rather than giving up.
const UnavailableRetryAfter = 5 * time.Second

// The HTTP layer's own refusals, answered by [answerFor] with the status of
// their row. They are domain errors: their message is the
// error_description.
var (
	errNoRoute       = &keyward.Error{Code: keyward.ENOTFOUND, Message: "no such endpoint"}
	errNoFeed        = &keyward.Error{Code: keyward.ENOTFOUND, Message: "this issuer publishes no revocation feed"}
	errMethod        = &keyward.Error{Code: keyward.EINVALID, Message: "method not allowed"}
	errTooLarge      = &keyward.Error{Code: keyward.EINVALID, Message: "request body too large"}
	errUnreadable    = &keyward.Error{Code: keyward.EINVALID, Message: "cannot read the request body"}
	errNotForm       = &keyward.Error{Code: keyward.EINVALID, Message: "Content-Type must be " + mediaForm}
	errNotJSONOrForm = &keyward.Error{Code: keyward.EINVALID, Message: "Content-Type must be " + mediaJSON + " or " + mediaForm}
)

// answer is how the server tells a client about one failure.
type answer struct {
	// status is the HTTP status.
	status int
	// code and desc are the error and error_description of the RFC 6749
	// §5.2 body.
	code, desc string
	// retryAfter, when positive, is sent as Retry-After (RFC 9110 §10.2.3)
	// in whole seconds, rounded up.
	retryAfter time.Duration
	// basic asks for the WWW-Authenticate challenge of client
	// authentication (RFC 6749 §5.2, invalid_client).
	basic bool
}

// serverError is the answer to an unexpected failure: its cause is logged,
// never sent.
var serverError = answer{status: http.StatusInternalServerError, code: issuer.CodeServerError,
	desc: "the server could not complete the request"}

// answerFor is the one table from errors to HTTP answers, in this order:
//
//   - a store that cannot reach its database ([keyward.ErrUnavailable]),
//     wherever it surfaces: 503 temporarily_unavailable with Retry-After
//     ([UnavailableRetryAfter]), so that the request is retried rather than dropped;
//   - the HTTP layer's own refusals: 405 method, 413 body size, 415 media
//     type, 404 unknown endpoint, all invalid_request but the last
//     (not_found);
//   - the issuer's OAuth errors ([issuer.Error]) by RFC 6749 §5.2 code:
//     invalid_client 401 with a Basic challenge, slow_down 429 with
//     Retry-After, server_error 500, temporarily_unavailable 503, any
//     other code 400;
//   - domain errors ([keyward.Error]) by category: EINVALID 400
//     invalid_request, ENOTFOUND 404 not_found, ECONFLICT 409
//     invalid_request, EUNAUTHORIZED 401 invalid_client, ENOTIMPLEMENTED
//     501 invalid_request, EUNAVAILABLE 503 temporarily_unavailable with
//     Retry-After;
//   - anything else, EINTERNAL included, is 500 server_error with a
//     generic description: the cause goes to the log only.
func answerFor(err error) answer {
	var (
		oe *issuer.Error
		ke *keyward.Error
	)
	switch {
	case errors.Is(err, keyward.ErrUnavailable):
		desc := "the service is temporarily unavailable; retry later"
		if errors.As(err, &oe) && oe.Code == issuer.CodeTemporarilyUnavailable && oe.Description != "" {
			desc = oe.Description
		}
		return answer{status: http.StatusServiceUnavailable, code: issuer.CodeTemporarilyUnavailable, desc: desc, retryAfter: UnavailableRetryAfter}
	case errors.Is(err, errMethod):
		return answer{status: http.StatusMethodNotAllowed, code: issuer.CodeInvalidRequest, desc: errMethod.Message}
	case errors.Is(err, errTooLarge):
		return answer{status: http.StatusRequestEntityTooLarge, code: issuer.CodeInvalidRequest, desc: errTooLarge.Message}
	case errors.Is(err, errNotForm), errors.Is(err, errNotJSONOrForm):
		return answer{status: http.StatusUnsupportedMediaType, code: issuer.CodeInvalidRequest, desc: keyward.ErrorMessage(err)}
	case errors.As(err, &oe):
		a := answer{status: http.StatusBadRequest, code: oe.Code, desc: oe.Description}
		switch oe.Code {
		case issuer.CodeInvalidClient:
			a.status, a.basic = http.StatusUnauthorized, true
		case issuer.CodeSlowDown:
			a.status, a.retryAfter = http.StatusTooManyRequests, oe.RetryAfter
		case issuer.CodeServerError:
			a.status = http.StatusInternalServerError
		case issuer.CodeTemporarilyUnavailable:
			a.status = http.StatusServiceUnavailable
		}
		return a
	case errors.As(err, &ke):
		switch ke.Code {
		case keyward.EINVALID:
			return answer{status: http.StatusBadRequest, code: issuer.CodeInvalidRequest, desc: ke.Error()}
		case keyward.ENOTFOUND:
			return answer{status: http.StatusNotFound, code: keyward.ENOTFOUND, desc: ke.Error()}
		case keyward.ECONFLICT:
			return answer{status: http.StatusConflict, code: issuer.CodeInvalidRequest, desc: ke.Error()}
		case keyward.EUNAUTHORIZED:
			return answer{status: http.StatusUnauthorized, code: issuer.CodeInvalidClient, desc: ke.Error(), basic: true}
		case keyward.ENOTIMPLEMENTED:
			return answer{status: http.StatusNotImplemented, code: issuer.CodeInvalidRequest, desc: ke.Error()}
		case keyward.EUNAVAILABLE:
			return answer{status: http.StatusServiceUnavailable, code: issuer.CodeTemporarilyUnavailable,
				desc: "the service is temporarily unavailable; retry later", retryAfter: UnavailableRetryAfter}
		}
	}
	return serverError
}

// setHeaders sets the headers the answer calls for.
func (a answer) setHeaders(h http.Header) {
	if a.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((a.retryAfter+time.Second-1)/time.Second)))
	}
	if a.basic {
		h.Set("WWW-Authenticate", `Basic realm="keyward", charset="UTF-8"`)
	}
}
