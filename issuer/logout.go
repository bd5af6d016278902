package issuer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/jose"
)

// Errors of an RP-initiated logout request (OpenID Connect RP-Initiated
// Logout 1.0 §2) that must be shown to the user, never redirected.
var (
	// ErrIDTokenHint means the id_token_hint is not an ID token this
	// issuer signed: a bad signature or key, another type (an access
	// token), another issuer, or no sub or aud.
	ErrIDTokenHint = errors.New("issuer: id_token_hint is not an ID token of this issuer")
	// ErrPostLogoutRedirectURI means the post_logout_redirect_uri is not
	// one of the client's registered post-logout redirect URIs, compared
	// exactly, or no longer passes [ValidateRedirectURI].
	ErrPostLogoutRedirectURI = errors.New("issuer: post_logout_redirect_uri is not registered for the client")
)

// LogoutHint is what a verified id_token_hint says about the logout it
// asks for.
type LogoutHint struct {
	// Subject is the ID token's sub, the user.
	Subject string
	// SessionID is the ID token's sid, the issuer session it was issued
	// in; empty for an ID token issued without one.
	SessionID string
	// Audience is the ID token's aud, the client it was issued to.
	Audience []string
	// AuthorizedParty is the ID token's azp, empty when absent.
	AuthorizedParty string
}

// ClientID returns the client the hint's ID token was issued to: its azp,
// else its only audience, else "".
func (h LogoutHint) ClientID() string {
	switch {
	case h.AuthorizedParty != "":
		return h.AuthorizedParty
	case len(h.Audience) == 1:
		return h.Audience[0]
	}
	return ""
}

// IssuedTo reports whether the hint's ID token was issued to the client
// clientID (its aud contains it, RP-Initiated Logout 1.0 §2: a client_id
// sent beside the hint must match it).
func (h LogoutHint) IssuedTo(clientID string) bool {
	return clientID != "" && slices.Contains(h.Audience, clientID)
}

// Matches reports whether the hint names the session s: the same user and,
// when the ID token carries a sid, the same session. Only then may a
// logout end s without asking the user, since whoever sent the request
// held an ID token of that login.
func (h LogoutHint) Matches(s keyward.Session) bool {
	return h.Subject != "" && h.Subject == s.UserID && (h.SessionID == "" || h.SessionID == s.ID)
}

// VerifyIDTokenHint verifies the id_token_hint of an RP-initiated logout
// (OpenID Connect RP-Initiated Logout 1.0 §2): an ID token (typ JWT, so
// never an access token) signed with one of the keys this issuer publishes
// now, whose iss is this issuer and which has a sub and an aud. An expired
// ID token is accepted, as the specification asks, but only while its key
// is still published; every other claim is checked as for a fresh token.
// Its errors wrap [ErrIDTokenHint].
func (i *Issuer) VerifyIDTokenHint(hint string) (LogoutHint, error) {
	bad := func(err error) (LogoutHint, error) { return LogoutHint{}, fmt.Errorf("%w: %w", ErrIDTokenHint, err) }
	j, err := jose.Parse(hint)
	if err != nil {
		return bad(err)
	}
	set, algs := i.cfg.Keys.KeySet()
	if _, err := j.Verify(set, algs); err != nil {
		return bad(err)
	}
	c, err := jose.ParseClaims(j.UnsafePayload())
	if err != nil {
		return bad(err)
	}
	// The policy sees the issuer's clock, held back to just before exp
	// once the token has expired: exp alone is not checked.
	now := i.cfg.Now()
	if exp := c.Expiry.Time(); c.Expiry != 0 && !now.Before(exp) {
		now = exp.Add(-time.Second)
	}
	p := &jose.Policy{Issuers: []string{i.cfg.Issuer}, Types: []string{IDTokenType}, Required: []string{"sub", "aud"},
		Now: func() time.Time { return now }}
	if err := p.Validate(&j.Header, c); err != nil {
		return bad(err)
	}
	if c.Subject == "" || len(c.Audience) == 0 {
		return bad(errors.New("empty sub or aud"))
	}
	return LogoutHint{Subject: c.Subject, SessionID: c.String("sid"), Audience: c.Audience, AuthorizedParty: c.String("azp")}, nil
}

// LogoutClient checks the client_id and post_logout_redirect_uri of an
// RP-initiated logout request: the client must exist and, when
// postLogoutRedirectURI is not empty, list it among its
// PostLogoutRedirectURIs, compared exactly, and the URI must pass
// [ValidateRedirectURI]. Its errors wrap [ErrUnknownClient] or
// [ErrPostLogoutRedirectURI] and must be shown to the user, never
// redirected: a URI the client did not register is never followed, so the
// logout endpoint is no open redirect.
func (i *Issuer) LogoutClient(ctx context.Context, clientID, postLogoutRedirectURI string) (keyward.Client, error) {
	if clientID == "" || len(clientID) > 256 {
		return keyward.Client{}, fmt.Errorf("%w: client_id is missing or too long", ErrUnknownClient)
	}
	c, err := i.cfg.Store.GetClient(ctx, clientID)
	switch {
	case errors.Is(err, keyward.ErrNotFound):
		return keyward.Client{}, fmt.Errorf("%w: %q", ErrUnknownClient, truncate(clientID))
	case err != nil:
		return keyward.Client{}, internal(err)
	}
	if postLogoutRedirectURI == "" {
		return c, nil
	}
	if !slices.Contains(c.PostLogoutRedirectURIs, postLogoutRedirectURI) {
		return keyward.Client{}, fmt.Errorf("%w: %q", ErrPostLogoutRedirectURI, truncate(postLogoutRedirectURI))
	}
	if err := ValidateRedirectURI(postLogoutRedirectURI, c.Public); err != nil {
		return keyward.Client{}, fmt.Errorf("%w: %w", ErrPostLogoutRedirectURI, err)
	}
	return c, nil
}
