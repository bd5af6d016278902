package issuer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/jose"
)

// FirstPartyClientID is the client_id of the tokens issued by first-party
// login. Its refresh tokens are refreshed without client authentication:
// holding one is what a first-party (browser or CLI) client can prove.
const FirstPartyClientID = "keyward"

// AccessTokenType is the typ header of access tokens (RFC 9068 §2.1).
const AccessTokenType = "at+jwt"

// Grant types.
const (
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
)

// DefaultAudience is the aud of first-party access tokens when Config
// leaves it empty.
const DefaultAudience = "api"

// Config configures an [Issuer].
type Config struct {
	// Store persists users, clients, refresh tokens and revocations.
	// Required.
	Store keyward.Store
	// Keys signs the tokens. Required.
	Keys *KeyManager
	// Issuer is the iss claim, the issuer's URL. Required.
	Issuer string
	// Audience is the aud of tokens issued by first-party login, and of
	// client tokens when the client has none. Zero means [DefaultAudience].
	Audience string
	// AccessTTL is the lifetime of access tokens. Zero means 15m.
	AccessTTL time.Duration
	// RefreshTTL is the absolute lifetime of a refresh-token family; rotation
	// does not extend it. Zero means 720h.
	RefreshTTL time.Duration
	// Password holds the argon2id parameters of new password hashes and of
	// the dummy hash checked for unknown users. Zero fields take the
	// defaults of [DefaultPasswordParams].
	Password PasswordParams
	// MaxConcurrentHashes bounds the argon2id computations running at once,
	// each of which holds Password.Memory KiB. Zero means 4.
	MaxConcurrentHashes int
	// Throttle sets the login rate limits.
	Throttle ThrottleConfig
	// TokenThrottle sets the rate limits of refresh and revocation.
	TokenThrottle TokenThrottleConfig
	// Logger receives the audit lines, each logged with the context of
	// the request it is about: a handler that reads the request ID from
	// that context (server.RequestID, as keyward serve's handler does)
	// puts request_id on them. Nil means none.
	Logger *slog.Logger
	// Observer, when set, is told of tokens issued, logins and refresh
	// reuse, for metrics. Nil means none.
	Observer Observer
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Rand is the source of token values and identifiers. Nil means
	// crypto/rand.
	Rand io.Reader
	// ClientKeys returns the keys of clients that registered a JWKS URL for
	// private_key_jwt, ideally from a cache. Nil means such clients cannot
	// authenticate.
	ClientKeys ClientKeysFunc
	// BackchannelQueueLimit bounds the back-channel logouts waiting in the
	// store's outbox ([keyward.BackchannelStore]); the logouts of a session
	// ended while it is full are dropped and logged. Zero means
	// [keyward.DefaultBackchannelQueueLimit].
	BackchannelQueueLimit int
	// RequireMFA makes every user sign in with a second factor after the
	// password (see [Issuer.Requirement]); false leaves it to each user's
	// RequireMFA and to the factors they hold. It needs Sealer.
	RequireMFA bool
	// Sealer encrypts the users' TOTP secrets before they reach the store
	// (the issuer's master key). Nil means TOTP cannot be enrolled, so
	// RequireMFA is refused: no user could meet it.
	Sealer *Sealer
	// PasswordPolicy is the rule a password changed on the account page
	// must pass; the zero value is the default policy.
	PasswordPolicy PasswordPolicy
}

// Observer receives the issuer's events, typically to count them as
// metrics. Its methods must be safe for concurrent use and fast. The
// arguments are bounded sets (grant types, algorithms, results), never a
// username or a token.
type Observer interface {
	// TokenIssued reports an access token issued under grant ("password"
	// for first-party login, "refresh_token", "client_credentials",
	// "authorization_code") and signed with alg.
	TokenIssued(grant, alg string)
	// Login reports a password check by result: "success",
	// "invalid_credentials" (unknown user, wrong password or disabled
	// account alike) or "throttled".
	Login(result string)
	// RefreshReuse reports a refresh token presented again after its
	// rotation; its family has been revoked.
	RefreshReuse()
}

// GrantPassword names first-party password logins in [Observer.TokenIssued].
const GrantPassword = "password"

// Issuer authenticates users and clients and issues, refreshes and revokes
// their tokens. It is safe for concurrent use.
type Issuer struct {
	cfg       Config
	log       *slog.Logger
	dummyHash string
	hashes    chan struct{}
	// throttle takes the login and second-factor tokens from the store.
	throttle *loginThrottle
	tokens   *tokenThrottle
	// knownBrowserKey signs the known-browser cookies.
	knownBrowserKey []byte
}

// New validates cfg and returns an Issuer. It computes one argon2id hash,
// used for unknown users so that they take as long as a wrong password.
func New(cfg Config) (*Issuer, error) {
	if cfg.Store == nil || cfg.Keys == nil {
		return nil, errors.New("issuer: Config.Store and Config.Keys are required")
	}
	if cfg.Issuer == "" {
		return nil, errors.New("issuer: Config.Issuer is required")
	}
	if cfg.AccessTTL < 0 || cfg.RefreshTTL < 0 || cfg.MaxConcurrentHashes < 0 || cfg.BackchannelQueueLimit < 0 {
		return nil, errors.New("issuer: negative AccessTTL, RefreshTTL, MaxConcurrentHashes or BackchannelQueueLimit")
	}
	if cfg.Audience == "" {
		cfg.Audience = DefaultAudience
	}
	if cfg.AccessTTL == 0 {
		cfg.AccessTTL = 15 * time.Minute
	}
	if cfg.RefreshTTL == 0 {
		cfg.RefreshTTL = 720 * time.Hour
	}
	if cfg.MaxConcurrentHashes == 0 {
		cfg.MaxConcurrentHashes = 4
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if kt := cfg.Keys.Config().AccessTTL; cfg.AccessTTL > kt {
		return nil, fmt.Errorf("issuer: access-token TTL %s exceeds the key manager's %s, so retired keys could leave the JWKS before their tokens expire", cfg.AccessTTL, kt)
	}
	if cfg.RequireMFA && cfg.Sealer == nil {
		return nil, errors.New("issuer: Config.RequireMFA needs a Sealer for TOTP secrets")
	}
	if err := cfg.PasswordPolicy.Validate(); err != nil {
		return nil, err
	}
	cfg.Password = cfg.Password.withDefaults()
	if err := cfg.Throttle.validate(); err != nil {
		return nil, err
	}
	cfg.Throttle = cfg.Throttle.withDefaults()
	dummy, err := HashPassword(cfg.Password, "keyward-dummy-password", cfg.Rand)
	if err != nil {
		return nil, err
	}
	i := &Issuer{
		cfg:       cfg,
		log:       cfg.Logger,
		dummyHash: dummy,
		hashes:    make(chan struct{}, cfg.MaxConcurrentHashes),
	}
	if i.log == nil {
		i.log = slog.New(slog.DiscardHandler)
	}
	if i.throttle, err = newLoginThrottle(cfg.Throttle, cfg.Store, cfg.Rand); err != nil {
		return nil, err
	}
	if i.tokens, err = newTokenThrottle(cfg.TokenThrottle); err != nil {
		return nil, err
	}
	i.knownBrowserKey = cfg.Throttle.KnownBrowserKey
	if i.knownBrowserKey == nil {
		i.knownBrowserKey = make([]byte, 32)
		if _, err := io.ReadFull(randOrDefault(cfg.Rand), i.knownBrowserKey); err != nil {
			return nil, fmt.Errorf("issuer: reading random bytes: %w", err)
		}
	}
	return i, nil
}

// IssuerURL returns the iss of the tokens.
func (i *Issuer) IssuerURL() string { return i.cfg.Issuer }

// Audience returns the aud of first-party tokens.
func (i *Issuer) Audience() string { return i.cfg.Audience }

// Keys returns the key manager.
func (i *Issuer) Keys() *KeyManager { return i.cfg.Keys }

// TokenResponse is the successful token response of RFC 6749 §5.1.
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
	// IDToken is the OpenID Connect ID token of an authorization_code
	// grant with the openid scope.
	IDToken string `json:"id_token,omitempty"`
}

// audit logs an audit line with the context of the request it is about,
// from which the logger's handler may take the request ID (see
// Config.Logger).
func (i *Issuer) audit(ctx context.Context, level slog.Level, msg string, attrs ...slog.Attr) {
	i.log.LogAttrs(ctx, level, msg, attrs...)
}

// internal wraps an unexpected failure as server_error.
func internal(err error) *Error {
	return oauthError(CodeServerError, "the server could not complete the request", err)
}

// LoginRequest is a first-party login.
type LoginRequest struct {
	Username string
	Password string
	// RemoteAddr is the client's address, whose network
	// ([ClientNetwork]) keys the throttle; a port, if present, is ignored.
	// Behind a proxy it must be the address the proxy saw, never the
	// proxy's own.
	RemoteAddr string
	// KnownBrowser is the known-browser cookie value the client presented
	// ([Issuer.KnownBrowser]), empty for none. A valid one for the account
	// tried takes the attempt from that browser's own bucket instead of
	// the account's and the network's (see [ThrottleConfig]); an invalid
	// or expired one is ignored.
	KnownBrowser string
	// UserAgent is the browser's User-Agent header, from which the
	// session's device label is made ([DeviceLabel]); empty for none.
	UserAgent string
}

// errBadCredentials is the one answer to a failed login, whatever the cause.
func errBadCredentials(cause error) *Error {
	return oauthError(CodeInvalidGrant, "invalid username or password", cause)
}

// Login checks a username and password and issues an access token for the
// issuer's audience and a refresh token. A user who must sign in with a
// second factor ([Issuer.MFARequired]) is refused with [CodeInvalidGrant]
// after the password check: such a user signs in through /authorize. Throttled attempts fail with
// [CodeSlowDown] before any hashing. An unknown user, a wrong password and a
// disabled account all fail with the same [CodeInvalidGrant] error after one
// argon2id computation with the same parameters.
func (i *Issuer) Login(ctx context.Context, req LoginRequest) (*TokenResponse, error) {
	now := i.cfg.Now()
	u, err := i.checkPassword(ctx, req, now)
	if err != nil {
		return nil, err
	}
	if err := i.passwordAlone(ctx, u); err != nil {
		return nil, err
	}
	aud := []string{i.cfg.Audience}
	fam, err := NewID(i.cfg.Rand)
	if err != nil {
		return nil, internal(err)
	}
	at, err := i.mint(ctx, GrantPassword, now, &u, FirstPartyClientID, aud, "", tokenLinks{fid: fam})
	if err != nil {
		return nil, err
	}
	rt, err := i.newRefreshFamily(ctx, now, keyward.RefreshToken{FamilyID: fam, UserID: u.ID, ClientID: FirstPartyClientID, Audience: aud})
	if err != nil {
		return nil, err
	}
	at.RefreshToken = rt
	return at, nil
}

// checkPassword throttles, then checks a username and password, with the
// guarantees described at [Issuer.Login].
func (i *Issuer) checkPassword(ctx context.Context, req LoginRequest, now time.Time) (keyward.User, error) {
	if req.Username == "" || req.Password == "" {
		return keyward.User{}, oauthError(CodeInvalidRequest, "username and password are required", nil)
	}
	if len(req.Username) > 256 || len(req.Password) > MaxPasswordLen {
		return keyward.User{}, oauthError(CodeInvalidRequest, "username or password too long", nil)
	}
	typed := req.Username
	if n, err := NormalizeUsername(typed); err == nil {
		req.Username = n // one throttle bucket and one log hash for every form of a name
	}
	addr := hostOf(req.RemoteAddr)
	if !i.cfg.Throttle.InsecureDisableThrottle {
		account := throttleAccount(typed)
		browser := i.knownBrowserID(req.KnownBrowser, account, now)
		wait, err := i.throttle.take(ctx, account, ClientNetwork(req.RemoteAddr), browser, now)
		if err != nil {
			return keyward.User{}, i.throttleUnavailable(ctx, err)
		}
		if wait > 0 {
			i.audit(ctx, slog.LevelWarn, "login_failed", slog.String("username_hash", i.usernameHash(req.Username)),
				slog.String("client_addr", addr), slog.String("reason", "throttled"))
			i.observeLogin("throttled")
			return keyward.User{}, &Error{Code: CodeSlowDown, Description: "too many login attempts; retry later", RetryAfter: wait}
		}
	}
	u, err := LookupUser(ctx, i.cfg.Store, typed)
	hash, reason := u.PasswordHash, ""
	switch {
	case errors.Is(err, keyward.ErrNotFound):
		hash, reason = i.dummyHash, "unknown_user"
	case err != nil:
		return keyward.User{}, internal(err)
	}
	ok, err := i.verifyPassword(ctx, hash, req.Password)
	if err != nil {
		return keyward.User{}, err
	}
	switch {
	case reason != "":
	case !ok:
		reason = "bad_password"
	case u.Disabled:
		reason = "disabled"
	}
	if reason != "" {
		i.audit(ctx, slog.LevelWarn, "login_failed", append(i.loginFailedWho(u, reason != "unknown_user", req.Username),
			slog.String("client_addr", addr), slog.String("reason", reason))...)
		i.observeLogin("invalid_credentials")
		return keyward.User{}, errBadCredentials(nil)
	}
	i.audit(ctx, slog.LevelInfo, "login_succeeded", slog.String("user_id", u.ID),
		slog.String("username", u.Username), slog.String("client_addr", addr))
	i.observeLogin("success")
	return u, nil
}

// observeLogin tells the observer, if any, of a login's result.
func (i *Issuer) observeLogin(result string) {
	if i.cfg.Observer != nil {
		i.cfg.Observer.Login(result)
	}
}

// verifyPassword checks a password against a hash, bounded by the hashing
// semaphore. A hash that cannot be read fails as a wrong password would, and
// is logged.
func (i *Issuer) verifyPassword(ctx context.Context, hash, password string) (bool, error) {
	select {
	case i.hashes <- struct{}{}:
	case <-ctx.Done():
		return false, oauthError(CodeTemporarilyUnavailable, "the request was cancelled", ctx.Err())
	}
	defer func() { <-i.hashes }()
	ok, err := VerifyPassword(hash, password)
	if err != nil {
		i.audit(ctx, slog.LevelError, "password_hash_unreadable", slog.String("error", err.Error()))
		_, _ = VerifyPassword(i.dummyHash, password)
		return false, nil
	}
	return ok, nil
}

// hostOf strips the port from an address.
func hostOf(addr string) string {
	if strings.HasPrefix(addr, "[") {
		if end := strings.IndexByte(addr, ']'); end > 0 {
			return addr[1:end]
		}
	}
	if strings.Count(addr, ":") == 1 {
		host, _, _ := strings.Cut(addr, ":")
		return host
	}
	return addr
}

// registeredClaims cannot be overridden by user attributes.
var registeredClaims = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", "scope", "roles", "auth_time", "acr", "amr", "typ", "cnf", "act", "may_act", ClaimSessionID, ClaimFamilyID}

// mint signs an access token (RFC 9068) for user u (nil for a client acting
// on its own behalf, then sub is the client ID), naming the session and
// refresh-token family it belongs to, if any.
func (i *Issuer) mint(ctx context.Context, grant string, now time.Time, u *keyward.User, clientID string, aud []string, scope string, links tokenLinks) (*TokenResponse, error) {
	return i.mintWithID(ctx, grant, now, u, clientID, aud, scope, "", links)
}

// mintWithID is mint with the token's jti, random when empty.
func (i *Issuer) mintWithID(ctx context.Context, grant string, now time.Time, u *keyward.User, clientID string, aud []string, scope, jti string, links tokenLinks) (*TokenResponse, error) {
	signer, err := i.cfg.Keys.Signer()
	if err != nil {
		return nil, oauthError(CodeTemporarilyUnavailable, "no signing key is active yet", err)
	}
	if jti == "" {
		var err error
		if jti, err = NewID(i.cfg.Rand); err != nil {
			return nil, internal(err)
		}
	}
	exp := now.Add(i.cfg.AccessTTL)
	c := &jose.Claims{
		Issuer:   i.cfg.Issuer,
		Audience: aud,
		Expiry:   jose.NewNumericDate(exp),
		IssuedAt: jose.NewNumericDate(now),
		ID:       jti,
		Extra:    map[string]any{"client_id": clientID},
	}
	if scope != "" {
		c.Extra["scope"] = scope
	}
	if links.sid != "" {
		c.Extra[ClaimSessionID] = links.sid
	}
	if links.fid != "" {
		c.Extra[ClaimFamilyID] = links.fid
	}
	tokenType := TokenTypeBearer
	if links.jkt != "" {
		c.Extra[ClaimConfirmation], tokenType = confirmation(links.jkt), TokenTypeDPoP
	}
	sub := clientID
	if u != nil {
		sub = u.ID
		for k, v := range u.Attributes {
			if !slices.Contains(registeredClaims, k) {
				c.Extra[k] = v
			}
		}
		if len(u.Roles) > 0 {
			c.Extra["roles"] = u.Roles
		}
	}
	c.Subject = sub
	tok, err := signer.SignJWT(AccessTokenType, c)
	if err != nil {
		return nil, internal(err)
	}
	i.audit(ctx, slog.LevelInfo, "token_issued", slog.String("sub", sub), slog.String("client_id", clientID),
		slog.String("jti", jti), slog.String("kid", signer.KeyID()), slog.Any("aud", aud), slog.String("scope", scope))
	if i.cfg.Observer != nil {
		i.cfg.Observer.TokenIssued(grant, string(signer.Algorithm()))
	}
	return &TokenResponse{AccessToken: tok, TokenType: tokenType, ExpiresIn: int64(i.cfg.AccessTTL / time.Second), Scope: scope}, nil
}

// newRefreshFamily stores the first token of a new family, t.FamilyID or a
// new one when empty, and returns it.
func (i *Issuer) newRefreshFamily(ctx context.Context, now time.Time, t keyward.RefreshToken) (string, error) {
	tok, err := randomString(i.cfg.Rand, 32)
	if err != nil {
		return "", internal(err)
	}
	if t.FamilyID == "" {
		if t.FamilyID, err = NewID(i.cfg.Rand); err != nil {
			return "", internal(err)
		}
	}
	t.Hash, t.IssuedAt, t.ExpiresAt = hashToken(tok), now, now.Add(i.cfg.RefreshTTL)
	if err := i.cfg.Store.CreateRefreshToken(ctx, t); err != nil {
		return "", internal(err)
	}
	return tok, nil
}

// AuthenticateClient checks a client's credentials (client_secret_basic or
// client_secret_post). Every failure is [CodeInvalidClient] with the same
// description.
func (i *Issuer) AuthenticateClient(ctx context.Context, id, secret string) (keyward.Client, error) {
	fail := func(cause error) (keyward.Client, error) {
		i.audit(ctx, slog.LevelWarn, "client_auth_failed", slog.String("client_id", id))
		return keyward.Client{}, oauthError(CodeInvalidClient, "client authentication failed", cause)
	}
	if id == "" || secret == "" || len(id) > 256 || len(secret) > 1024 {
		return fail(nil)
	}
	c, err := i.cfg.Store.GetClient(ctx, id)
	switch {
	case errors.Is(err, keyward.ErrNotFound):
		// Same work as a wrong secret.
		VerifyClientSecret(HashClientSecret(""), secret)
		return fail(nil)
	case err != nil:
		return keyward.Client{}, internal(err)
	}
	if c.Public || c.SecretHash == "" || !VerifyClientSecret(c.SecretHash, secret) {
		return fail(nil)
	}
	return c, nil
}

// ClientCredentials issues an access token to an authenticated client
// acting on its own behalf (RFC 6749 §4.4), with no refresh token. The
// requested scope must be among the client's; empty means all of them. The
// aud is the client's audience, or the issuer's default. It is
// [Issuer.ClientCredentialsDPoP] without a DPoP proof.
func (i *Issuer) ClientCredentials(ctx context.Context, c keyward.Client, scope string) (*TokenResponse, error) {
	return i.ClientCredentialsDPoP(ctx, c, scope, "")
}

// ClientCredentialsDPoP is [Issuer.ClientCredentials] for a request that
// carried a DPoP proof whose key has the thumbprint jkt, checked by the
// caller (RFC 9449 §5): the access token is bound to that key (cnf.jkt,
// token_type DPoP). An empty jkt means no proof, refused with
// [CodeInvalidDPoPProof] for a client with [keyward.Client.RequireDPoP].
func (i *Issuer) ClientCredentialsDPoP(ctx context.Context, c keyward.Client, scope, jkt string) (*TokenResponse, error) {
	if !slices.Contains(c.GrantTypes, GrantClientCredentials) {
		return nil, oauthError(CodeUnauthorizedClient, "the client may not use the client_credentials grant", nil)
	}
	if err := requireProof(c, jkt); err != nil {
		return nil, err
	}
	granted := strings.Join(c.Scopes, " ")
	if scope != "" {
		for s := range strings.FieldsSeq(scope) {
			if !slices.Contains(c.Scopes, s) {
				return nil, oauthError(CodeInvalidScope, fmt.Sprintf("scope %q is not allowed for this client", truncate(s)), nil)
			}
		}
		granted = strings.Join(strings.Fields(scope), " ")
	}
	aud := c.Audience
	if aud == "" {
		aud = i.cfg.Audience
	}
	return i.mint(ctx, GrantClientCredentials, i.cfg.Now(), nil, c.ID, []string{aud}, granted, tokenLinks{jkt: jkt})
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// RefreshRequest is a refresh_token grant (RFC 6749 §6).
type RefreshRequest struct {
	// Token is the refresh token presented.
	Token string
	// Client is the authenticated client, nil when the request carried no
	// client credentials.
	Client *keyward.Client
	// ClientID is the client_id parameter of an unauthenticated request.
	ClientID string
	// Scope, when not empty, narrows the access token's scope; it must be a
	// subset of the scope originally granted.
	Scope string
	// DPoPJKT is the thumbprint of the key of the request's DPoP proof,
	// checked by the caller (RFC 9449 §5), empty when it carried none. The
	// new access token is bound to it; a public client's refresh token too.
	DPoPJKT string
}

// Refresh rotates a refresh token: the token is marked used and a new one is
// returned with a new access token. A token used before fails with
// [CodeInvalidGrant], and the store has then revoked its whole family
// (RFC 9700 §4.14.2), logged as refresh_reuse_detected, and published it in
// the revocation feed, which refuses the family's access tokens by their
// "fid". First-party tokens
// need no client authentication; other clients' tokens need the client's.
// A disabled or deleted user's tokens are refused and their family revoked.
// Refreshes are throttled per client and per family ([TokenThrottleConfig]):
// past the limits they fail with [CodeSlowDown] and a RetryAfter, before
// anything is written.
//
// With DPoP (RFC 9449 §5), the access token is bound to the key of the
// request's proof (req.DPoPJKT). A public client's refresh token is bound
// to the key of the proof it was issued with, and every refresh of it must
// carry a proof of that key: without one, or with another key, it fails
// with [CodeInvalidGrant] before anything is written. A public client's
// unbound refresh token refreshed with a proof is bound from then on. A
// confidential client's refresh tokens are never bound: its credentials
// constrain them. A client with [keyward.Client.RequireDPoP] must send a
// proof ([CodeInvalidDPoPProof]).
func (i *Issuer) Refresh(ctx context.Context, req RefreshRequest) (*TokenResponse, error) {
	now := i.cfg.Now()
	if req.Token == "" {
		return nil, oauthError(CodeInvalidRequest, "refresh_token is required", nil)
	}
	bad := oauthError(CodeInvalidGrant, "the refresh token is invalid, expired or revoked", nil)
	if len(req.Token) > 512 {
		return nil, bad
	}
	hash := hashToken(req.Token)
	old, err := i.cfg.Store.GetRefreshToken(ctx, hash)
	switch {
	case errors.Is(err, keyward.ErrNotFound):
		return nil, bad
	case err != nil:
		return nil, internal(err)
	}
	// The token must be presented by the client it was issued to.
	public := true // no credentials: first-party or public (RFC 9449 §5)
	switch {
	case req.Client != nil:
		if req.Client.ID != old.ClientID {
			return nil, oauthError(CodeInvalidGrant, "the refresh token was issued to another client", nil)
		}
		if !slices.Contains(req.Client.GrantTypes, GrantRefreshToken) {
			return nil, oauthError(CodeUnauthorizedClient, "the client may not use the refresh_token grant", nil)
		}
		if err := requireProof(*req.Client, req.DPoPJKT); err != nil {
			return nil, err
		}
		public = false
	case old.ClientID == FirstPartyClientID:
		if req.ClientID != "" && req.ClientID != FirstPartyClientID {
			return nil, oauthError(CodeInvalidGrant, "the refresh token was issued to another client", nil)
		}
	default:
		c, err := i.cfg.Store.GetClient(ctx, old.ClientID)
		if err != nil && !errors.Is(err, keyward.ErrNotFound) {
			return nil, internal(err)
		}
		if err != nil || !c.Public || req.ClientID != c.ID {
			return nil, oauthError(CodeInvalidClient, "client authentication is required for this refresh token", nil)
		}
		if err := requireProof(c, req.DPoPJKT); err != nil {
			return nil, err
		}
	}
	if err := checkGrantBinding(old.JKT, req.DPoPJKT, "refresh token"); err != nil {
		return nil, err
	}
	scope := old.Scope
	if req.Scope != "" {
		have := strings.Fields(old.Scope)
		for s := range strings.FieldsSeq(req.Scope) {
			if !slices.Contains(have, s) {
				return nil, oauthError(CodeInvalidScope, fmt.Sprintf("scope %q was not granted", truncate(s)), nil)
			}
		}
		scope = strings.Join(strings.Fields(req.Scope), " ")
	}
	if err := i.throttleToken(ctx, "refresh", old.ClientID, old.UserID, old.FamilyID, now); err != nil {
		return nil, err
	}
	var user *keyward.User
	if old.UserID != "" {
		u, err := i.cfg.Store.GetUser(ctx, old.UserID)
		if err != nil && !errors.Is(err, keyward.ErrNotFound) {
			return nil, internal(err)
		}
		if err != nil || u.Disabled {
			if rerr := i.cfg.Store.RevokeRefreshFamily(ctx, old.FamilyID, now); rerr != nil {
				return nil, internal(rerr)
			}
			if rerr := i.publishGrant(ctx, keyward.GrantFamily, old.FamilyID, old.UserID, now); rerr != nil {
				return nil, internal(rerr)
			}
			i.audit(ctx, slog.LevelWarn, "refresh_refused", slog.String("user_id", old.UserID),
				slog.String("family_id", old.FamilyID), slog.String("reason", "user disabled or deleted"))
			return nil, bad
		}
		user = &u
	}
	tok, err := randomString(i.cfg.Rand, 32)
	if err != nil {
		return nil, internal(err)
	}
	// The new refresh token keeps the originally granted scope (RFC 6749
	// §6); only the access token is narrowed.
	next := keyward.RefreshToken{Hash: hashToken(tok), Scope: old.Scope, Audience: old.Audience, IssuedAt: now,
		JKT: refreshBinding(public, req.DPoPJKT)}
	old, err = i.cfg.Store.RotateRefreshToken(ctx, hash, next, now)
	switch {
	case errors.Is(err, keyward.ErrRefreshReused):
		// The store revoked the family; the feed refuses its access tokens.
		if rerr := i.publishGrant(ctx, keyward.GrantFamily, old.FamilyID, old.UserID, now); rerr != nil {
			return nil, internal(rerr)
		}
		if i.cfg.Observer != nil {
			i.cfg.Observer.RefreshReuse()
		}
		i.audit(ctx, slog.LevelWarn, "refresh_reuse_detected", slog.String("family_id", old.FamilyID),
			slog.String("user_id", old.UserID), slog.String("client_id", old.ClientID))
		return nil, bad
	case errors.Is(err, keyward.ErrNotFound), errors.Is(err, keyward.ErrRevoked), errors.Is(err, keyward.ErrExpired):
		return nil, bad
	case err != nil:
		return nil, internal(err)
	}
	aud := old.Audience
	if len(aud) == 0 {
		aud = []string{i.cfg.Audience}
	}
	resp, err := i.mint(ctx, GrantRefreshToken, now, user, old.ClientID, aud, scope,
		tokenLinks{sid: old.SessionID, fid: old.FamilyID, jkt: req.DPoPJKT})
	if err != nil {
		return nil, err
	}
	resp.RefreshToken = tok
	return resp, nil
}

// RevokeRequest is an RFC 7009 revocation request.
type RevokeRequest struct {
	Token string
	// TokenTypeHint is "refresh_token", "access_token" or "".
	TokenTypeHint string
	// Client is the authenticated client, nil for none.
	Client *keyward.Client
	// ClientID is the client_id parameter of an unauthenticated request.
	ClientID string
}

// Revoke revokes a refresh token, with its whole family, whose access
// tokens the revocation feed then refuses by their "fid", or an access token
// issued here, by recording its jti until it expires. Unknown, expired and
// foreign tokens are not an error (RFC 7009 §2.2). A token issued to a
// confidential client can only be revoked by that client, authenticated;
// first-party tokens by whoever holds them. Revocations are throttled like
// refreshes ([TokenThrottleConfig]): past the limits they fail with
// [CodeSlowDown] and a RetryAfter, and nothing is revoked.
func (i *Issuer) Revoke(ctx context.Context, req RevokeRequest) error {
	now := i.cfg.Now()
	if req.Token == "" {
		return oauthError(CodeInvalidRequest, "token is required", nil)
	}
	if req.TokenTypeHint != "" && req.TokenTypeHint != "refresh_token" && req.TokenTypeHint != "access_token" {
		return oauthError(CodeUnsupportedTokenType, "token_type_hint must be refresh_token or access_token", nil)
	}
	if len(req.Token) > jose.DefaultMaxTokenSize {
		return nil
	}
	if !strings.Contains(req.Token, ".") {
		rt, err := i.cfg.Store.GetRefreshToken(ctx, hashToken(req.Token))
		switch {
		case errors.Is(err, keyward.ErrNotFound):
			return nil
		case err != nil:
			return internal(err)
		}
		if err := i.mayRevoke(ctx, rt.ClientID, req); err != nil {
			return err
		}
		if err := i.throttleToken(ctx, "revoke", rt.ClientID, rt.UserID, rt.FamilyID, now); err != nil {
			return err
		}
		if err := i.cfg.Store.RevokeRefreshFamily(ctx, rt.FamilyID, now); err != nil {
			return internal(err)
		}
		if err := i.publishGrant(ctx, keyward.GrantFamily, rt.FamilyID, rt.UserID, now); err != nil {
			return internal(err)
		}
		i.audit(ctx, slog.LevelInfo, "token_revoked", slog.String("type", "refresh_token"),
			slog.String("family_id", rt.FamilyID), slog.String("client_id", rt.ClientID))
		return nil
	}
	set, algs := i.cfg.Keys.KeySet()
	tok, err := jose.VerifyJWT(req.Token, set, algs, &jose.Policy{
		Issuers: []string{i.cfg.Issuer}, Types: []string{AccessTokenType}, Required: []string{"jti"}, Now: i.cfg.Now,
	})
	if err != nil {
		return nil // not ours, or expired: nothing to revoke
	}
	if err := i.mayRevoke(ctx, tok.Claims.String("client_id"), req); err != nil {
		return err
	}
	if err := i.throttleToken(ctx, "revoke", tok.Claims.String("client_id"), tok.Claims.Subject, "", now); err != nil {
		return err
	}
	if err := i.publishToken(ctx, tok.Claims.ID, tok.Claims.Subject, tok.Claims.Expiry.Time(), now); err != nil {
		return internal(err)
	}
	i.audit(ctx, slog.LevelInfo, "token_revoked", slog.String("type", "access_token"),
		slog.String("jti", tok.Claims.ID), slog.String("client_id", tok.Claims.String("client_id")))
	return nil
}

// mayRevoke checks that the caller may revoke a token issued to clientID.
func (i *Issuer) mayRevoke(ctx context.Context, clientID string, req RevokeRequest) error {
	if req.Client != nil {
		if req.Client.ID != clientID {
			return oauthError(CodeUnauthorizedClient, "the token was issued to another client", nil)
		}
		return nil
	}
	if clientID == FirstPartyClientID {
		return nil
	}
	c, err := i.cfg.Store.GetClient(ctx, clientID)
	if err != nil && !errors.Is(err, keyward.ErrNotFound) {
		return internal(err)
	}
	if err == nil && c.Public && req.ClientID == c.ID {
		return nil
	}
	return oauthError(CodeInvalidClient, "client authentication is required to revoke this token", nil)
}
