package issuer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/jose"
)

// LogoutTokenType is the typ header of logout tokens (OpenID Connect
// Back-Channel Logout 1.0 §2.4), so that a logout token is never taken for
// an ID token or an access token, nor one of those for a logout token.
const LogoutTokenType = "logout+jwt"

// BackchannelLogoutEvent is the member of a logout token's "events" claim
// that makes it one (Back-Channel Logout 1.0 §2.4).
const BackchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// LogoutTokenTTL is the lifetime of a logout token: long enough for one
// delivery, short enough that a token captured on the way is soon useless
// (Back-Channel Logout 1.0 §2.4 recommends at most two minutes).
const LogoutTokenTTL = 2 * time.Minute

// ErrNoBackchannel means a queued back-channel logout cannot be sent: its
// client was deleted, no longer registers a back-channel logout URI, or
// requires a sid the logout does not carry. The logout is then dropped.
var ErrNoBackchannel = errors.New("issuer: the client takes no back-channel logout")

// ValidateBackchannelLogoutURI checks a back-channel logout URI before it is
// registered for a client (Back-Channel Logout 1.0 §2.2): an absolute https
// URI with a host, or http to a loopback IP literal for development, without
// a fragment, spaces or control characters. The issuer posts logout tokens
// to it from its own network: an administrator registers it, never an end
// user, so private addresses are allowed. Its errors carry
// [keyward.EINVALID].
func ValidateBackchannelLogoutURI(uri string) error {
	bad := func(why string) error {
		return keyward.Errorf(keyward.EINVALID, "back-channel logout URI %q: %s", truncate(uri), why)
	}
	if strings.Contains(uri, "#") {
		return bad("a back-channel logout URI has no fragment (OpenID Connect Back-Channel Logout 1.0 §2.2)")
	}
	if strings.ContainsFunc(uri, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return bad("spaces and control characters are not allowed")
	}
	u, err := url.Parse(uri)
	if err != nil || !u.IsAbs() || u.Opaque != "" {
		return bad("want an absolute https URI")
	}
	if u.User != nil {
		return bad("credentials in the URI are not allowed")
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		if u.Hostname() == "" {
			return bad("an https URI needs a host")
		}
	case "http":
		ip := net.ParseIP(u.Hostname())
		if ip == nil || !ip.IsLoopback() {
			return bad("http is allowed only to a loopback address such as 127.0.0.1 or [::1]; use https")
		}
	default:
		return bad("want https, or http to a loopback address")
	}
	return nil
}

// LogoutDelivery is a signed logout token and where to post it.
type LogoutDelivery struct {
	// ClientID is the client notified.
	ClientID string
	// URI is the client's back-channel logout URI.
	URI string
	// Token is the logout token. It is a credential for ending the
	// client's session of the user and must never be logged.
	Token string
}

// LogoutToken signs the logout token of a queued back-channel logout
// (OpenID Connect Back-Channel Logout 1.0 §2.4) for its client, as of now:
// typ "logout+jwt", signed by the key that signs the client's ID tokens
// (its id_token_signed_response_alg), with iss, aud (the client ID), iat,
// exp ([LogoutTokenTTL] later), a random jti, the events claim holding
// [BackchannelLogoutEvent], sub (the user) and sid (the session), and never
// a nonce, so that it cannot pass for an ID token. It fails with an error
// wrapping [ErrNoBackchannel] when the client no longer exists, registers
// no back-channel logout URI, or requires a sid the logout lacks.
func (i *Issuer) LogoutToken(ctx context.Context, l keyward.BackchannelLogout) (LogoutDelivery, error) {
	c, err := i.cfg.Store.GetClient(ctx, l.ClientID)
	switch {
	case errors.Is(err, keyward.ErrNotFound):
		return LogoutDelivery{}, fmt.Errorf("%w: client %q deleted", ErrNoBackchannel, l.ClientID)
	case err != nil:
		return LogoutDelivery{}, err
	case c.BackchannelLogoutURI == "":
		return LogoutDelivery{}, fmt.Errorf("%w: client %q has no back-channel logout URI", ErrNoBackchannel, l.ClientID)
	case c.BackchannelLogoutSessionRequired && l.SessionID == "":
		return LogoutDelivery{}, fmt.Errorf("%w: client %q requires a sid", ErrNoBackchannel, l.ClientID)
	case l.SessionID == "" && l.UserID == "":
		return LogoutDelivery{}, fmt.Errorf("%w: neither a sid nor a sub", ErrNoBackchannel)
	}
	if err := ValidateBackchannelLogoutURI(c.BackchannelLogoutURI); err != nil {
		return LogoutDelivery{}, fmt.Errorf("%w: %w", ErrNoBackchannel, err)
	}
	signer, err := i.idTokenSigner(c)
	if err != nil {
		return LogoutDelivery{}, err
	}
	jti, err := NewID(i.cfg.Rand)
	if err != nil {
		return LogoutDelivery{}, err
	}
	now := i.cfg.Now()
	claims := &jose.Claims{
		Issuer:   i.cfg.Issuer,
		Subject:  l.UserID,
		Audience: jose.Audience{c.ID},
		IssuedAt: jose.NewNumericDate(now),
		Expiry:   jose.NewNumericDate(now.Add(LogoutTokenTTL)),
		ID:       jti,
		Extra:    map[string]any{"events": map[string]any{BackchannelLogoutEvent: map[string]any{}}},
	}
	if l.SessionID != "" {
		claims.Extra[ClaimSessionID] = l.SessionID
	}
	tok, err := signer.SignJWT(LogoutTokenType, claims)
	if err != nil {
		return LogoutDelivery{}, err
	}
	return LogoutDelivery{ClientID: c.ID, URI: c.BackchannelLogoutURI, Token: tok}, nil
}

// queueBackchannel queues the back-channel logouts of the sessions ended
// at ended (the session sessionID, or every session of userID when it is
// empty), for the deliverer to send. It never fails the end of a session:
// a store failure or a full outbox is logged, and the clients concerned
// are not notified.
func (i *Issuer) queueBackchannel(ctx context.Context, userID, sessionID string, ended time.Time) {
	limit := i.cfg.BackchannelQueueLimit
	if limit == 0 {
		limit = keyward.DefaultBackchannelQueueLimit
	}
	_, dropped, err := i.cfg.Store.QueueBackchannelLogouts(ctx, userID, sessionID, ended, limit)
	switch {
	case err != nil:
		i.audit(ctx, slog.LevelError, "backchannel_logout_not_queued", slog.String("session_id", sessionID),
			slog.String("user_id", userID), slog.String("error", err.Error()))
	case dropped > 0:
		i.audit(ctx, slog.LevelWarn, "backchannel_logout_dropped", slog.String("session_id", sessionID),
			slog.String("user_id", userID), slog.Int("dropped", dropped), slog.String("reason", "queue_full"))
	}
}
