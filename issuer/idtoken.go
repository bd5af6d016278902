package issuer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/jose"
)

// IDTokenType is the typ header of ID tokens.
const IDTokenType = "JWT"

// idTokenSigner returns the signer of the client's ID tokens: the active
// key of the client's id_token_signed_response_alg, or, when it registered
// none, the active primary key (the configured algorithm). An algorithm the
// issuer does not offer fails with [CodeUnauthorizedClient].
func (i *Issuer) idTokenSigner(c keyward.Client) (*jose.Signer, error) {
	signer, err := i.cfg.Keys.IDTokenSigner(jose.Algorithm(c.IDTokenSignedResponseAlg))
	switch {
	case errors.Is(err, ErrIDTokenAlgorithm):
		return nil, oauthError(CodeUnauthorizedClient, fmt.Sprintf("the client's id_token_signed_response_alg %q is not offered by this issuer (it offers %s)",
			truncate(c.IDTokenSignedResponseAlg), joinAlgs(i.cfg.Keys.IDTokenAlgorithms())), err)
	case err != nil:
		return nil, oauthError(CodeTemporarilyUnavailable, "no signing key is active yet", err)
	}
	return signer, nil
}

// idToken signs, with signer (from [Issuer.idTokenSigner]), the OpenID
// Connect ID token (OIDC Core §2) of a redeemed code.
func (i *Issuer) idToken(signer *jose.Signer, now time.Time, u *keyward.User, clientID string, code keyward.AuthCode) (string, error) {
	c := &jose.Claims{
		Issuer:   i.cfg.Issuer,
		Subject:  u.ID,
		Audience: jose.Audience{clientID},
		Expiry:   jose.NewNumericDate(now.Add(i.cfg.AccessTTL)),
		IssuedAt: jose.NewNumericDate(now),
		Extra:    map[string]any{"azp": clientID},
	}
	if !code.AuthTime.IsZero() {
		c.Extra["auth_time"] = code.AuthTime.Unix()
	}
	if code.Nonce != "" {
		c.Extra["nonce"] = code.Nonce
	}
	if len(code.AMR) > 0 {
		// RFC 8176: the methods of the session's sign-in.
		c.Extra["amr"] = code.AMR
	}
	if code.ACR != "" {
		c.Extra["acr"] = code.ACR
	}
	if code.SessionID != "" {
		// The session it was issued in, which an id_token_hint names at
		// logout (OpenID Connect Front-Channel Logout 1.0 §3).
		c.Extra["sid"] = code.SessionID
	}
	for k, v := range profileClaims(u, code.Scope) {
		c.Extra[k] = v
	}
	tok, err := signer.SignJWT(IDTokenType, c)
	if err != nil {
		return "", internal(err)
	}
	return tok, nil
}

// profileClaims are the user's claims released for the scope: roles
// always, preferred_username and name for profile, email for email.
func profileClaims(u *keyward.User, scope string) map[string]any {
	out := map[string]any{}
	scopes := strings.Fields(scope)
	if slices.Contains(scopes, "profile") {
		out["preferred_username"] = u.Username
		if n, ok := u.Attributes["name"].(string); ok {
			out["name"] = n
		}
	}
	if slices.Contains(scopes, "email") {
		if e, ok := u.Attributes["email"].(string); ok {
			out["email"] = e
			if v, ok := u.Attributes["email_verified"].(bool); ok {
				out["email_verified"] = v
			}
		}
	}
	if len(u.Roles) > 0 {
		out["roles"] = u.Roles
	}
	return out
}

// UserInfo answers the OIDC userinfo request (OIDC Core §5.3) of a bearer
// access token issued here with the openid scope: sub and the claims its
// scope releases. A bad, expired or revoked token, or a disabled user,
// fails with [CodeInvalidToken]; a token without openid with
// [CodeInsufficientScope].
func (i *Issuer) UserInfo(ctx context.Context, accessToken string) (map[string]any, error) {
	tok, err := i.verifyAccessToken(ctx, accessToken)
	if err != nil {
		return nil, err
	}
	scope := tok.Claims.String("scope")
	if !slices.Contains(strings.Fields(scope), "openid") {
		return nil, oauthError(CodeInsufficientScope, "the access token lacks the openid scope", nil)
	}
	u, err := i.cfg.Store.GetUser(ctx, tok.Claims.Subject)
	if err != nil && !errors.Is(err, keyward.ErrNotFound) {
		return nil, internal(err)
	}
	if err != nil || u.Disabled {
		return nil, oauthError(CodeInvalidToken, "the access token's user is disabled or deleted", nil)
	}
	out := profileClaims(&u, scope)
	out["sub"] = u.ID
	return out, nil
}
