package issuer

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/jose"
)

// GrantAuthorizationCode is the authorization code grant (RFC 6749 §4.1).
const GrantAuthorizationCode = "authorization_code"

// CodeTTL is the lifetime of an authorization code: long enough for a
// redirect and one token request, short as RFC 6749 §4.1.2 recommends.
const CodeTTL = 60 * time.Second

// SessionTTL is the lifetime of an issuer login session, the span of single
// sign-on.
const SessionTTL = 8 * time.Hour

// OIDCScopes returns the OpenID Connect scopes every client with the
// authorization_code grant may request, in addition to its own. Each call
// returns a new slice, so no caller can widen what others grant.
func OIDCScopes() []string { return []string{"openid", "profile", "email"} }

// Errors of an authorization request that must not be redirected (RFC 6749
// §4.1.2.1): the user agent is shown an error page instead.
var (
	// ErrUnknownClient means the client_id names no client.
	ErrUnknownClient = errors.New("issuer: unknown client")
	// ErrRedirectURI means the redirect_uri is missing or is not one of the
	// client's registered URIs, compared exactly.
	ErrRedirectURI = errors.New("issuer: redirect_uri is not registered for the client")
)

// AuthorizeClient checks the client_id and redirect_uri of an authorization
// request: the redirect_uri must be one of the client's, compared exactly,
// and pass [ValidateRedirectURI]. Its errors wrap [ErrUnknownClient] or
// [ErrRedirectURI] and must be shown to the user, never redirected.
func (i *Issuer) AuthorizeClient(ctx context.Context, clientID, redirectURI string) (keyward.Client, error) {
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
	if redirectURI == "" || !slices.Contains(c.RedirectURIs, redirectURI) {
		return keyward.Client{}, fmt.Errorf("%w: %q", ErrRedirectURI, truncate(redirectURI))
	}
	// A URI registered before registration refused it is refused here.
	if err := ValidateRedirectURI(redirectURI, c.Public); err != nil {
		return keyward.Client{}, errRedirectURIRefused(err)
	}
	return c, nil
}

// AuthorizeRequest is an authorization request (RFC 6749 §4.1.1, RFC 7636
// §4.3, OIDC Core §3.1.2.1) whose client and redirect URI have been checked
// with [Issuer.AuthorizeClient].
type AuthorizeRequest struct {
	Client              keyward.Client
	RedirectURI         string
	Scope               string
	Nonce               string
	CodeChallenge       string
	CodeChallengeMethod string
	// DPoPJKT is the dpop_jkt parameter (RFC 9449 §10): the thumbprint of
	// the DPoP key that alone may redeem the code; empty means any.
	DPoPJKT string
}

// CheckAuthorize validates the rest of an authorization request and returns
// the scope to grant. Its errors are *Error values to redirect to the client:
// unauthorized_client when the client lacks the grant, invalid_scope, and
// invalid_request for PKCE that is missing (public clients must send it),
// not S256, or malformed. An openid request of a client whose
// id_token_signed_response_alg the issuer does not offer is
// unauthorized_client, before the user is asked to log in.
func (i *Issuer) CheckAuthorize(req AuthorizeRequest) (string, error) {
	if !slices.Contains(req.Client.GrantTypes, GrantAuthorizationCode) {
		return "", oauthError(CodeUnauthorizedClient, "the client may not use the authorization_code grant", nil)
	}
	var granted []string
	for s := range strings.FieldsSeq(req.Scope) {
		if !slices.Contains(req.Client.Scopes, s) && !slices.Contains(OIDCScopes(), s) {
			return "", oauthError(CodeInvalidScope, fmt.Sprintf("scope %q is not allowed for this client", truncate(s)), nil)
		}
		if !slices.Contains(granted, s) {
			granted = append(granted, s)
		}
	}
	switch {
	case req.CodeChallenge == "" && req.CodeChallengeMethod != "":
		return "", oauthError(CodeInvalidRequest, "code_challenge_method without code_challenge", nil)
	case req.CodeChallenge == "" && req.Client.Public:
		return "", oauthError(CodeInvalidRequest, "code_challenge is required (PKCE with S256)", nil)
	case req.CodeChallenge != "" && req.CodeChallengeMethod != "S256":
		return "", oauthError(CodeInvalidRequest, "code_challenge_method must be S256", nil)
	case req.CodeChallenge != "" && !validChallenge(req.CodeChallenge):
		return "", oauthError(CodeInvalidRequest, "code_challenge must be 43 base64url characters", nil)
	}
	if len(req.Nonce) > 512 {
		return "", oauthError(CodeInvalidRequest, "nonce too long", nil)
	}
	if req.DPoPJKT != "" && !ValidJKT(req.DPoPJKT) {
		return "", oauthError(CodeInvalidRequest, "dpop_jkt must be a JWK SHA-256 thumbprint: 43 base64url characters", nil)
	}
	if slices.Contains(granted, "openid") && req.Client.IDTokenSignedResponseAlg != "" {
		if _, err := i.idTokenSigner(req.Client); err != nil {
			var oe *Error
			if errors.As(err, &oe) && oe.Code == CodeUnauthorizedClient {
				return "", err
			}
		}
	}
	return strings.Join(granted, " "), nil
}

// validChallenge reports whether s is the base64url (unpadded) encoding of
// a SHA-256 hash.
func validChallenge(s string) bool {
	if len(s) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// validVerifier checks the code_verifier syntax of RFC 7636 §4.1.
func validVerifier(s string) bool {
	if len(s) < 43 || len(s) > 128 {
		return false
	}
	for _, r := range s {
		ok := r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~", r)
		if !ok {
			return false
		}
	}
	return true
}

// IssueCode stores an authorization code for the request (as checked by
// [Issuer.CheckAuthorize], scope being the scope it returned) on behalf of
// the session's user, and returns the code. It lives [CodeTTL].
func (i *Issuer) IssueCode(ctx context.Context, req AuthorizeRequest, scope string, s keyward.Session) (string, error) {
	now := i.cfg.Now()
	code, err := randomString(i.cfg.Rand, 32)
	if err != nil {
		return "", internal(err)
	}
	if err := i.cfg.Store.CreateAuthCode(ctx, keyward.AuthCode{
		Hash: hashToken(code), ClientID: req.Client.ID, UserID: s.UserID, RedirectURI: req.RedirectURI,
		Scope: scope, Nonce: req.Nonce, CodeChallenge: req.CodeChallenge, CodeChallengeMethod: req.CodeChallengeMethod,
		SessionID: s.ID, AuthTime: authTime(s), ExpiresAt: now.Add(CodeTTL), AMR: s.AMR, ACR: s.ACR, JKT: req.DPoPJKT,
	}); err != nil {
		return "", internal(err)
	}
	i.audit(ctx, slog.LevelInfo, "code_issued", slog.String("client_id", req.Client.ID),
		slog.String("user_id", s.UserID), slog.String("scope", scope))
	return code, nil
}

// StartSession checks a username and password like [Issuer.Login] (same
// throttle, same answer whatever failed) and opens a new issuer session: it
// is [Issuer.SignIn] for a browser that holds no session cookie.
func (i *Issuer) StartSession(ctx context.Context, req LoginRequest) (string, keyward.Session, error) {
	return i.SignIn(ctx, req, "")
}

// SignIn checks a username and password like [Issuer.Login] (same throttle,
// same answer whatever failed) for a browser that presents the session
// cookie value current, empty when it presents none, and completes the
// sign-in with [Issuer.CompleteLogin] and the method [MethodPassword]: see
// there for what becomes of the browser's session. It returns the cookie
// value the browser is to hold from now on and the session it names. A
// failed login leaves the browser's session as it was.
func (i *Issuer) SignIn(ctx context.Context, req LoginRequest, current string) (string, keyward.Session, error) {
	u, err := i.checkPassword(ctx, req, i.cfg.Now())
	if err != nil {
		return "", keyward.Session{}, err
	}
	return i.CompleteLogin(ctx, u, []string{MethodPassword}, current, req.UserAgent)
}

// renewSession gives the session id, held with the cookie value current, the
// cookie value next and a login at now with the methods amr. It returns an error wrapping
// [ErrNoSession] when current no longer names the session or the session is
// no longer active: the store's transaction checks both, so of two logins
// racing with one cookie only one renews the session.
func (i *Issuer) renewSession(ctx context.Context, id, current, next string, amr []string, now time.Time) (keyward.Session, error) {
	var renewed keyward.Session
	err := i.cfg.Store.UpdateSession(ctx, id, func(s *keyward.Session) error {
		if subtle.ConstantTimeCompare(s.CookieHash, hashToken(current)) != 1 || !s.Active(now) {
			return fmt.Errorf("%w: renewed or ended meanwhile", ErrNoSession)
		}
		s.CookieHash, s.AuthTime, s.ExpiresAt = hashToken(next), now, now.Add(SessionTTL)
		s.AMR, s.ACR, s.LastUsedAt = amr, ACRFor(amr), now
		renewed = *s
		return nil
	})
	switch {
	case err == nil:
		return renewed, nil
	case errors.Is(err, ErrNoSession):
		return keyward.Session{}, err
	case errors.Is(err, keyward.ErrNotFound):
		return keyward.Session{}, fmt.Errorf("%w: deleted meanwhile", ErrNoSession)
	default:
		return keyward.Session{}, internal(err)
	}
}

// ErrNoSession means the cookie names no active session of an enabled user.
var ErrNoSession = errors.New("issuer: no active session")

// Session returns the active session held in the cookie value, or an error
// wrapping [ErrNoSession] when it is unknown (a value replaced by a later
// login included), expired, revoked, or its user is disabled or deleted.
func (i *Issuer) Session(ctx context.Context, cookie string) (keyward.Session, error) {
	if cookie == "" || len(cookie) > 128 {
		return keyward.Session{}, ErrNoSession
	}
	s, err := i.cfg.Store.GetSessionByCookie(ctx, hashToken(cookie))
	switch {
	case errors.Is(err, keyward.ErrNotFound):
		return keyward.Session{}, ErrNoSession
	case err != nil:
		return keyward.Session{}, internal(err)
	}
	if !s.Active(i.cfg.Now()) {
		return keyward.Session{}, fmt.Errorf("%w: expired or revoked", ErrNoSession)
	}
	u, err := i.cfg.Store.GetUser(ctx, s.UserID)
	if err != nil && !errors.Is(err, keyward.ErrNotFound) {
		return keyward.Session{}, internal(err)
	}
	if err != nil || u.Disabled {
		return keyward.Session{}, fmt.Errorf("%w: user disabled or deleted", ErrNoSession)
	}
	return s, nil
}

// authTime is when the user last logged in in the session, the auth_time of
// the ID tokens issued in it.
func authTime(s keyward.Session) time.Time {
	if s.AuthTime.IsZero() {
		return s.CreatedAt
	}
	return s.AuthTime
}

// NeedsLogin reports whether the user of session s must log in again
// before an authorization request with max_age maxAge is answered (OIDC
// Core §3.1.2.1): when more than maxAge has passed, by the issuer's clock,
// since the user last logged in in the session (its AuthTime, the auth_time
// of the ID tokens issued in it). A maxAge of zero or less always asks for a
// login: max_age=0 is prompt=login.
func (i *Issuer) NeedsLogin(s keyward.Session, maxAge time.Duration) bool {
	return maxAge <= 0 || i.cfg.Now().Sub(authTime(s)) > maxAge
}

// EndSession revokes the session held in the cookie value and every refresh
// token issued in it. An unknown session, or a cookie value replaced by a
// later login, is not an error.
func (i *Issuer) EndSession(ctx context.Context, cookie string) error {
	if cookie == "" || len(cookie) > 128 {
		return nil
	}
	s, err := i.cfg.Store.GetSessionByCookie(ctx, hashToken(cookie))
	switch {
	case errors.Is(err, keyward.ErrNotFound):
		return nil
	case err != nil:
		return internal(err)
	}
	return i.endSession(ctx, s.ID, s.UserID, i.cfg.Now(), "logout")
}

// endSession revokes the session id and every refresh token issued in it,
// publishes the session in the revocation feed, which refuses every access
// token carrying its "sid", and says why in the audit log.
func (i *Issuer) endSession(ctx context.Context, id, userID string, now time.Time, reason string) error {
	err := i.cfg.Store.RevokeSession(ctx, id, now)
	switch {
	case errors.Is(err, keyward.ErrNotFound):
		return nil
	case err != nil:
		return internal(err)
	}
	if err := i.cfg.Store.RevokeSessionRefreshTokens(ctx, id, now); err != nil {
		return internal(err)
	}
	if err := i.publishGrant(ctx, keyward.GrantSession, id, userID, now); err != nil {
		return internal(err)
	}
	i.queueBackchannel(ctx, "", id, now)
	i.audit(ctx, slog.LevelInfo, "session_ended", slog.String("session_id", id), slog.String("reason", reason))
	return nil
}

// CodeRequest is an authorization_code grant (RFC 6749 §4.1.3).
type CodeRequest struct {
	Code         string
	RedirectURI  string
	CodeVerifier string
	// Client is the authenticated client, nil when the request carried no
	// client credentials (a public client).
	Client *keyward.Client
	// ClientID is the client_id parameter of an unauthenticated request.
	ClientID string
	// DPoPJKT is the thumbprint of the key of the request's DPoP proof,
	// checked by the caller (RFC 9449 §5), empty when it carried none.
	DPoPJKT string
}

// familyOfCode is the refresh-token family issued for a code, derived from
// its hash so that a reuse of the code finds it.
func familyOfCode(hash []byte) string { return "code-" + hex.EncodeToString(hash[:16]) }

// jtiOfCode is the jti of the access token issued for a code, derived from
// its hash (another part of it than the family) so that a reuse of the code
// can revoke it.
func jtiOfCode(hash []byte) string { return "code-" + hex.EncodeToString(hash[16:]) }

// ExchangeCode redeems an authorization code: it checks the client, the
// redirect URI and the PKCE verifier, and issues an access token, a refresh
// token when the client has the refresh_token grant, and an ID token when
// the scope includes openid. A code works once: a second use fails with
// invalid_grant and revokes the access and refresh tokens the first use
// issued (RFC 6749 §4.1.2), publishing their family in the revocation feed.
//
// With DPoP (RFC 9449), the access token is bound to the key of the
// request's proof (req.DPoPJKT), and so is a public client's refresh token.
// A code requested with dpop_jkt is redeemed only with a proof of that key
// (RFC 9449 §10), else invalid_grant; a client with
// [keyward.Client.RequireDPoP] must send a proof ([CodeInvalidDPoPProof]).
// Either refusal spends the code, as any refused redemption does.
func (i *Issuer) ExchangeCode(ctx context.Context, req CodeRequest) (*TokenResponse, error) {
	now := i.cfg.Now()
	bad := oauthError(CodeInvalidGrant, "the authorization code is invalid, expired or already used", nil)
	if req.Code == "" {
		return nil, oauthError(CodeInvalidRequest, "code is required", nil)
	}
	if len(req.Code) > 512 {
		return nil, bad
	}
	hash := hashToken(req.Code)
	code, err := i.cfg.Store.ConsumeAuthCode(ctx, hash, now)
	switch {
	case errors.Is(err, keyward.ErrNotFound):
		return nil, bad
	case errors.Is(err, keyward.ErrCodeReused):
		if rerr := i.cfg.Store.RevokeRefreshFamily(ctx, familyOfCode(hash), now); rerr != nil {
			return nil, internal(rerr)
		}
		// Every access token of the family, the code's own and those its
		// refresh tokens minted, carries its fid.
		if rerr := i.publishGrant(ctx, keyward.GrantFamily, familyOfCode(hash), code.UserID, now); rerr != nil {
			return nil, internal(rerr)
		}
		if !code.UsedAt.IsZero() {
			if rerr := i.publishToken(ctx, jtiOfCode(hash), code.UserID, code.UsedAt.Add(i.cfg.AccessTTL), now); rerr != nil {
				return nil, internal(rerr)
			}
		}
		i.audit(ctx, slog.LevelWarn, "code_reuse_detected", slog.String("client_id", code.ClientID),
			slog.String("user_id", code.UserID), slog.String("family_id", familyOfCode(hash)))
		return nil, bad
	case errors.Is(err, keyward.ErrExpired):
		return nil, oauthError(CodeInvalidGrant, "the authorization code expired", nil)
	case err != nil:
		return nil, internal(err)
	}
	c, err := i.cfg.Store.GetClient(ctx, code.ClientID)
	if err != nil && !errors.Is(err, keyward.ErrNotFound) {
		return nil, internal(err)
	}
	if err != nil {
		return nil, bad
	}
	switch {
	case req.Client != nil:
		if req.Client.ID != code.ClientID {
			return nil, oauthError(CodeInvalidGrant, "the authorization code was issued to another client", nil)
		}
	case c.Public:
		if req.ClientID != c.ID {
			return nil, oauthError(CodeInvalidGrant, "the authorization code was issued to another client", nil)
		}
	default:
		return nil, oauthError(CodeInvalidClient, "client authentication is required", nil)
	}
	if req.RedirectURI != code.RedirectURI {
		return nil, oauthError(CodeInvalidGrant, "redirect_uri differs from the authorization request", nil)
	}
	if err := requireProof(c, req.DPoPJKT); err != nil {
		return nil, err
	}
	if err := checkGrantBinding(code.JKT, req.DPoPJKT, "authorization code"); err != nil {
		return nil, err
	}
	if code.CodeChallenge != "" || req.CodeVerifier != "" {
		if code.CodeChallenge == "" {
			return nil, oauthError(CodeInvalidGrant, "code_verifier sent but the authorization request had no code_challenge", nil)
		}
		if !validVerifier(req.CodeVerifier) {
			return nil, oauthError(CodeInvalidGrant, "code_verifier is missing or malformed", nil)
		}
		sum := sha256.Sum256([]byte(req.CodeVerifier))
		if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(code.CodeChallenge)) != 1 {
			return nil, oauthError(CodeInvalidGrant, "code_verifier does not match the code_challenge", nil)
		}
	}
	u, err := i.cfg.Store.GetUser(ctx, code.UserID)
	if err != nil && !errors.Is(err, keyward.ErrNotFound) {
		return nil, internal(err)
	}
	if err != nil || u.Disabled {
		return nil, bad
	}
	if code.SessionID != "" {
		// So that the end of the session notifies the client
		// (OpenID Connect Back-Channel Logout 1.0).
		if err := i.cfg.Store.AddSessionClient(ctx, code.SessionID, c.ID); err != nil {
			return nil, internal(err)
		}
	}
	var idSigner *jose.Signer
	if slices.Contains(strings.Fields(code.Scope), "openid") {
		// Before any token is minted: a client whose algorithm is not
		// offered gets nothing.
		if idSigner, err = i.idTokenSigner(c); err != nil {
			return nil, err
		}
	}
	aud := c.Audience
	if aud == "" {
		aud = i.cfg.Audience
	}
	resp, err := i.mintWithID(ctx, GrantAuthorizationCode, now, &u, c.ID, []string{aud}, code.Scope, jtiOfCode(hash),
		tokenLinks{sid: code.SessionID, fid: familyOfCode(hash), jkt: req.DPoPJKT})
	if err != nil {
		return nil, err
	}
	if slices.Contains(c.GrantTypes, GrantRefreshToken) {
		tok, err := randomString(i.cfg.Rand, 32)
		if err != nil {
			return nil, internal(err)
		}
		if err := i.cfg.Store.CreateRefreshToken(ctx, keyward.RefreshToken{
			Hash: hashToken(tok), FamilyID: familyOfCode(hash), UserID: u.ID, ClientID: c.ID, Scope: code.Scope,
			Audience: []string{aud}, SessionID: code.SessionID, IssuedAt: now, ExpiresAt: now.Add(i.cfg.RefreshTTL),
			JKT: refreshBinding(c.Public, req.DPoPJKT),
		}); errors.Is(err, keyward.ErrRevoked) {
			return nil, bad // a concurrent reuse of the code revoked its family first
		} else if err != nil {
			return nil, internal(err)
		}
		resp.RefreshToken = tok
	}
	if idSigner != nil {
		id, err := i.idToken(idSigner, now, &u, c.ID, code)
		if err != nil {
			return nil, err
		}
		resp.IDToken = id
	}
	return resp, nil
}

// CodeInvalidToken is the RFC 6750 §3.1 error of a bad bearer token.
const CodeInvalidToken = "invalid_token"

// CodeInsufficientScope is the RFC 6750 §3.1 error of a token without the
// scope a resource needs.
const CodeInsufficientScope = "insufficient_scope"

// verifyAccessToken checks an access token issued here, not revoked: neither
// its jti nor its session or refresh-token family, nor issued before its
// subject's cutoff.
func (i *Issuer) verifyAccessToken(ctx context.Context, token string) (*jose.Token, error) {
	set, algs := i.cfg.Keys.KeySet()
	tok, err := jose.VerifyJWT(token, set, algs, &jose.Policy{
		Issuers: []string{i.cfg.Issuer}, Types: []string{AccessTokenType}, Required: []string{"jti", "sub"}, Now: i.cfg.Now,
	})
	if err != nil {
		return nil, oauthError(CodeInvalidToken, "the access token is invalid or expired", err)
	}
	revoked, err := i.cfg.Store.IsAccessTokenRevoked(ctx, tok.Claims.ID)
	if err != nil {
		return nil, internal(err)
	}
	if revoked {
		return nil, oauthError(CodeInvalidToken, "the access token was revoked", nil)
	}
	// Its session or family revoked, as the feed tells verifiers.
	for _, g := range []struct {
		kind  keyward.GrantKind
		claim string
	}{{keyward.GrantSession, ClaimSessionID}, {keyward.GrantFamily, ClaimFamilyID}} {
		id := tok.Claims.String(g.claim)
		if id == "" {
			continue
		}
		revoked, err := i.cfg.Store.IsGrantRevoked(ctx, g.kind, id)
		if err != nil {
			return nil, internal(err)
		}
		if revoked {
			return nil, oauthError(CodeInvalidToken, "the access token was revoked", nil)
		}
	}
	// Issued before its subject's cutoff, as the feed tells verifiers.
	if cut, err := i.beforeCutoff(ctx, tok.Claims); err != nil {
		return nil, internal(err)
	} else if cut {
		return nil, oauthError(CodeInvalidToken, "the access token was revoked", nil)
	}
	return tok, nil
}

// Introspection is an RFC 7662 §2.2 introspection response.
type Introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	Username  string   `json:"username,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	Expiry    int64    `json:"exp,omitzero"`
	IssuedAt  int64    `json:"iat,omitzero"`
	Subject   string   `json:"sub,omitempty"`
	Audience  []string `json:"aud,omitempty"`
	Issuer    string   `json:"iss,omitempty"`
	JTI       string   `json:"jti,omitempty"`
	// Confirmation is the cnf of a DPoP-bound access token (RFC 9449
	// §6.2), whose TokenType is then DPoP, so that a resource server
	// checks the proof's key against it.
	Confirmation map[string]any `json:"cnf,omitempty"`
}

// Introspect answers an RFC 7662 introspection request of the authenticated
// client c. An access token is described when it was issued to c or names
// c's ID or audience in aud (c is then its resource server); a refresh token
// only to the client it was issued to. Any other token, and any token that
// is unknown, expired, revoked, already rotated or whose user is disabled,
// is {"active": false}.
func (i *Issuer) Introspect(ctx context.Context, c keyward.Client, token string) (Introspection, error) {
	inactive := Introspection{}
	if token == "" {
		return inactive, oauthError(CodeInvalidRequest, "token is required", nil)
	}
	if len(token) > jose.DefaultMaxTokenSize {
		return inactive, nil
	}
	now := i.cfg.Now()
	activeUser := func(id string) (keyward.User, bool, error) {
		if id == "" {
			return keyward.User{}, true, nil
		}
		u, err := i.cfg.Store.GetUser(ctx, id)
		if err != nil && !errors.Is(err, keyward.ErrNotFound) {
			return u, false, internal(err)
		}
		return u, err == nil && !u.Disabled, nil
	}
	if !strings.Contains(token, ".") {
		rt, err := i.cfg.Store.GetRefreshToken(ctx, hashToken(token))
		switch {
		case errors.Is(err, keyward.ErrNotFound):
			return inactive, nil
		case err != nil:
			return inactive, internal(err)
		}
		if rt.ClientID != c.ID || !rt.UsedAt.IsZero() || !rt.RevokedAt.IsZero() || !now.Before(rt.ExpiresAt) {
			return inactive, nil
		}
		u, ok, err := activeUser(rt.UserID)
		if err != nil || !ok {
			return inactive, err
		}
		return Introspection{Active: true, Scope: rt.Scope, ClientID: rt.ClientID, Username: u.Username,
			TokenType: "refresh_token", Expiry: rt.ExpiresAt.Unix(), IssuedAt: rt.IssuedAt.Unix(),
			Subject: rt.UserID, Audience: rt.Audience, Issuer: i.cfg.Issuer}, nil
	}
	tok, err := i.verifyAccessToken(ctx, token)
	var oe *Error
	switch {
	case errors.As(err, &oe) && oe.Code == CodeInvalidToken:
		return inactive, nil
	case err != nil:
		return inactive, err
	}
	cl := tok.Claims
	clientID := cl.String("client_id")
	if clientID != c.ID && !cl.Audience.Contains(c.ID) && (c.Audience == "" || !cl.Audience.Contains(c.Audience)) {
		return inactive, nil
	}
	user := ""
	if clientID != cl.Subject {
		u, ok, err := activeUser(cl.Subject)
		if err != nil || !ok {
			return inactive, err
		}
		user = u.Username
	}
	out := Introspection{Active: true, Scope: cl.String("scope"), ClientID: clientID, Username: user,
		TokenType: TokenTypeBearer, Expiry: int64(cl.Expiry), IssuedAt: int64(cl.IssuedAt), Subject: cl.Subject,
		Audience: cl.Audience, Issuer: cl.Issuer, JTI: cl.ID}
	switch jkt, err := cl.ConfirmationJKT(); {
	case err != nil:
		return inactive, nil
	case jkt != "":
		out.TokenType, out.Confirmation = TokenTypeDPoP, confirmation(jkt)
	}
	return out, nil
}
