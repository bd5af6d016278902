package verifier

import (
	"context"

	"github.com/keyward/keyward/dpop"
)

// ChallengeError returns err, the refusal of a request whose token
// [Middleware] accepted (a requirement the token does not meet:
// [ErrInsufficientScope], a [*ScopeError], [ErrIssuerNotAllowed]), in the
// form that middleware gives its ErrorHandler, so that [WriteError]
// answers it as the middleware answers its own refusals. When the
// middleware allows or requires DPoP, err comes back wrapped with its
// challenges (RFC 9449 §7.1): the error code goes in a DPoP challenge for a
// request that came as `Authorization: DPoP` with a proof, in a Bearer
// challenge for a Bearer request, and the scheme the request did not use
// is named beside it when the middleware accepts it too. A client using
// DPoP thus learns which scope to ask for under its own scheme. Otherwise,
// and when ctx carries no claims of a [Middleware] (see [WithClaims]), it
// returns err itself. [RequireScope], [RequireRole] and
// [Requirements.Middleware] answer with it; a handler that checks claims
// itself calls it before [WriteError]. The result unwraps to err.
func ChallengeError(ctx context.Context, err error) error {
	v, ok := ctx.Value(verifiedKey{}).(*verified)
	if !ok || v.ch == nil {
		return err
	}
	scheme := "Bearer"
	if v.proof != nil {
		scheme = dpop.Scheme
	}
	return &dpopError{err: err, scheme: scheme, ch: v.ch}
}
