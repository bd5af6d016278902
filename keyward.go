// Package keyward holds the domain of the keyward authorization server: the
// users, clients, signing keys, refresh tokens, authorization codes, sessions
// and revocations the issuer keeps, the [Store] interfaces that persist them
// together with their error contracts, and the categorised [Error] type.
//
// The backends live in storage/memory, storage/sqlite and storage/postgres;
// every one of them passes the conformance suite in storage/storagetest.
//
// The package is the bottom of the issuer's side (cmd → server → issuer →
// keyward → jose; cmd → storage/* → keyward): it must never import issuer,
// server, a storage backend, a SQL driver, net/http or the verifier side
// (verifier, jwks, gate), so that each of them can depend on its types and
// contracts without a cycle.
//
// Times handed to a store are kept with microsecond precision and come back in
// UTC ([StoredTime]); a zero time means "not set" and is stored as such. Secrets are never
// stored in the clear: passwords as argon2id PHC strings, which make guessing
// a human-chosen password from a stolen database slow; client secrets as
// "$sha256$" strings, the SHA-256 of the secret, which is enough because
// the issuer draws every client secret with 256 random bits, beyond any
// search, so neither a slow hash nor a salt would add anything (client
// secrets registered as argon2id PHC strings are still accepted); refresh
// tokens, authorization codes and session cookies, random too, as SHA-256
// hashes; private keys sealed by the issuer before they reach the store.
package keyward

import (
	"log/slog"
	"slices"
	"time"
)

// redacted replaces secret values in log output.
const redacted = "[redacted]"

// User is an account that can log in to the issuer.
type User struct {
	// ID is the stable identifier used as the tokens' sub claim.
	ID string
	// Username is the unique login name.
	Username string
	// PasswordHash is the argon2id PHC string of the password ("$argon2id$v=19$...").
	// It is never logged: [User.LogValue] redacts it.
	PasswordHash string
	// Roles are copied into the roles claim of the user's access tokens.
	Roles []string
	// Attributes are extra claims (email, ...) copied into the user's tokens.
	// They are stored as JSON, so numbers come back as float64.
	Attributes map[string]any
	// Disabled users cannot log in nor refresh their tokens.
	Disabled bool
	// RequireMFA makes the user sign in with a second factor after the
	// password: a user without one is led through enrolling one right
	// after the password, in a session that can do nothing else. The
	// issuer's own policy (keyward serve --require-mfa) can require it of
	// every user whatever this field says.
	RequireMFA bool
	// CreatedAt is set by the store when zero on creation.
	CreatedAt time.Time
	// UpdatedAt is set by the store on creation and on every update.
	UpdatedAt time.Time
}

// LogValue implements [slog.LogValuer]; it leaves out the password hash and
// the attributes.
func (u User) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", u.ID),
		slog.String("username", u.Username),
		slog.String("password_hash", redacted),
		slog.Any("roles", u.Roles),
		slog.Bool("disabled", u.Disabled),
	)
}

// Client is an OAuth 2.0 client registered with the issuer (RFC 6749 §2).
type Client struct {
	// ID is the client_id.
	ID string
	// Name is a display name.
	Name string
	// SecretHash is the stored form of the client secret: "$sha256$" and the
	// unpadded base64 of the secret's SHA-256 for the 256-bit random secrets
	// the issuer makes, or an argon2id PHC string. It is empty for public
	// clients and for clients authenticating with private_key_jwt. It is
	// never logged: [Client.LogValue] redacts it.
	SecretHash string
	// Public clients (RFC 6749 §2.1) have no secret and must use PKCE.
	Public bool
	// RedirectURIs are the exact redirect URIs the client may use.
	RedirectURIs []string
	// PostLogoutRedirectURIs are the exact URIs the issuer may send the
	// browser to after an RP-initiated logout of the client (OpenID
	// Connect RP-Initiated Logout 1.0 §3, post_logout_redirect_uris),
	// compared as strings: a URI not listed here is never redirected to,
	// so /logout is no open redirect. Empty means the user is shown a
	// signed-out page instead.
	PostLogoutRedirectURIs []string
	// GrantTypes are the grant types the client may use.
	GrantTypes []string
	// Scopes are the scopes the client may request.
	Scopes []string
	// Audience is the default aud of the access tokens issued to the client.
	Audience string
	// JWKSURL is where the client publishes its public keys for
	// private_key_jwt (RFC 7523), empty when JWKS is used or none is needed.
	JWKSURL string
	// JWKS is the client's public JWK Set as JSON, for private_key_jwt.
	JWKS []byte
	// IDTokenSignedResponseAlg is the JWS alg the client wants its ID
	// tokens signed with (OpenID Connect Dynamic Client Registration §2,
	// id_token_signed_response_alg). Empty means the issuer's configured
	// algorithm. The issuer offers RS256 and its configured algorithm; a
	// client registered with another one is refused an ID token.
	IDTokenSignedResponseAlg string
	// CreatedAt is set by the store when zero on creation.
	CreatedAt time.Time
}

// LogValue implements [slog.LogValuer]; it redacts the secret hash.
func (c Client) LogValue() slog.Value {
	secret := ""
	if c.SecretHash != "" {
		secret = redacted
	}
	return slog.GroupValue(
		slog.String("id", c.ID),
		slog.String("name", c.Name),
		slog.String("secret_hash", secret),
		slog.Bool("public", c.Public),
		slog.Any("grant_types", c.GrantTypes),
	)
}

// KeyState is the stage of a signing key's life.
type KeyState string

// The states of a signing key. A key is published in the JWKS in all three.
const (
	// KeyPending keys are published but do not sign yet, so that verifiers
	// hold them before the first token they sign appears.
	KeyPending KeyState = "pending"
	// KeyActive is the state of the key that signs new tokens.
	KeyActive KeyState = "active"
	// KeyRetired keys no longer sign but stay published until every token
	// they signed has expired.
	KeyRetired KeyState = "retired"
)

// Valid reports whether s is one of the defined states.
func (s KeyState) Valid() bool {
	switch s {
	case KeyPending, KeyActive, KeyRetired:
		return true
	}
	return false
}

// KeyPurpose says which tokens a signing key signs. Keys of different
// purposes go through their lives side by side, each purpose with its own
// active key.
type KeyPurpose string

// The purposes of a signing key.
const (
	// KeyPurposePrimary keys, of the issuer's configured algorithm, sign
	// the access tokens and, by default, the ID tokens.
	KeyPurposePrimary KeyPurpose = ""
	// KeyPurposeIDToken keys are RS256 keys kept beside primary keys of
	// another algorithm, because OpenID Connect requires RS256 to be
	// offered for ID tokens (OIDC Core §15.1, Discovery §3). They sign
	// only the ID tokens of clients that ask for RS256.
	KeyPurposeIDToken KeyPurpose = "id_token"
)

// Valid reports whether p is one of the defined purposes.
func (p KeyPurpose) Valid() bool {
	return p == KeyPurposePrimary || p == KeyPurposeIDToken
}

// SigningKey is one of the issuer's signing keys.
type SigningKey struct {
	// ID is the key ID, the kid header of the tokens it signs.
	ID string
	// Algorithm is the JWS alg the key signs with ("RS256", "ES256", ...).
	Algorithm string
	// Purpose says which tokens the key signs; the zero value is
	// [KeyPurposePrimary].
	Purpose KeyPurpose
	// State is where the key is in its life.
	State KeyState
	// PrivateKey is the private key sealed by the issuer (opaque ciphertext).
	// It is never logged: [SigningKey.LogValue] leaves it out.
	PrivateKey []byte
	// PublicJWK is the public key as a JSON JWK.
	PublicJWK []byte
	// CreatedAt is when the key was generated; set by the store when zero.
	CreatedAt time.Time
	// ActivateAt is when the key starts signing; zero means not scheduled.
	ActivateAt time.Time
	// RetireAt is when the key stops signing; zero means not scheduled.
	RetireAt time.Time
	// RemoveAt is when the key leaves the JWKS; zero means not scheduled.
	RemoveAt time.Time
}

// LogValue implements [slog.LogValuer]; it leaves out the private key.
func (k SigningKey) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("kid", k.ID),
		slog.String("alg", k.Algorithm),
		slog.String("purpose", string(k.Purpose)),
		slog.String("state", string(k.State)),
		slog.String("private_key", redacted),
		slog.Time("created_at", k.CreatedAt),
	)
}

// RefreshToken is the stored form of an opaque refresh token. Tokens issued by
// rotating one another form a family that shares FamilyID and ExpiresAt.
type RefreshToken struct {
	// Hash is the SHA-256 of the opaque token; the token is never stored.
	Hash []byte
	// FamilyID identifies the chain of rotations this token belongs to.
	FamilyID string
	// UserID is the token's subject, empty for tokens issued to a client
	// acting on its own behalf.
	UserID string
	// ClientID is the client the token was issued to.
	ClientID string
	// Scope is the space-separated scope granted.
	Scope string
	// Audience is the aud of the access tokens minted with this token.
	Audience []string
	// SessionID links the token to the issuer session it was issued in, if any.
	SessionID string
	// IssuedAt is when the token was issued.
	IssuedAt time.Time
	// ExpiresAt is the absolute end of the family's life; rotation does not
	// extend it.
	ExpiresAt time.Time
	// UsedAt is when the token was rotated; zero means unused.
	UsedAt time.Time
	// RevokedAt is when the token was revoked; zero means not revoked.
	RevokedAt time.Time
}

// LogValue implements [slog.LogValuer]; it leaves out the hash.
func (r RefreshToken) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("family_id", r.FamilyID),
		slog.String("user_id", r.UserID),
		slog.String("client_id", r.ClientID),
		slog.String("session_id", r.SessionID),
	)
}

// AuthCode is the stored form of an OAuth 2.0 authorization code
// (RFC 6749 §4.1) with its PKCE challenge (RFC 7636).
type AuthCode struct {
	// Hash is the SHA-256 of the code; the code is never stored.
	Hash []byte
	// ClientID is the client the code was issued to.
	ClientID string
	// UserID is the user who authorised the client.
	UserID string
	// RedirectURI is the redirect_uri of the authorization request, which the
	// token request must repeat.
	RedirectURI string
	// Scope is the space-separated scope granted.
	Scope string
	// Nonce is the OIDC nonce to put in the ID token.
	Nonce string
	// CodeChallenge is the PKCE code_challenge.
	CodeChallenge string
	// CodeChallengeMethod is the PKCE code_challenge_method ("S256").
	CodeChallengeMethod string
	// SessionID is the issuer session the code was issued in.
	SessionID string
	// AuthTime is when the user authenticated (OIDC auth_time).
	AuthTime time.Time
	// AMR are the authentication methods of the session when the code was
	// issued (RFC 8176), the amr claim of the ID token.
	AMR []string
	// ACR is the authentication context class the session met when the code
	// was issued, the acr claim of the ID token; empty for none.
	ACR string
	// ExpiresAt is when the code stops being accepted.
	ExpiresAt time.Time
	// UsedAt is when the code was exchanged; zero means unused.
	UsedAt time.Time
}

// LogValue implements [slog.LogValuer]; it leaves out the hash, the nonce and
// the PKCE challenge.
func (c AuthCode) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("client_id", c.ClientID),
		slog.String("user_id", c.UserID),
		slog.String("session_id", c.SessionID),
	)
}

// Session is a login session of the issuer, held by the browser in a cookie.
//
// The session keeps its ID for its whole life, while the cookie value that
// names it changes each time the user logs in again in it: a fresh value
// after every authentication defends against session fixation, and the
// refresh tokens and authorization codes issued in the session stay tied to
// it through its ID.
type Session struct {
	// ID identifies the session in the store and names it in the refresh
	// tokens and authorization codes issued in it. It is not secret: the
	// issuer makes a random one, unrelated to the cookie.
	ID string
	// CookieHash is the SHA-256 of the cookie value the browser now holds;
	// the cookie is never stored. The store finds the session by it. It is
	// never logged: [Session.LogValue] leaves it out.
	CookieHash []byte
	// UserID is the logged-in user.
	UserID string
	// CreatedAt is when the user logged in; set by the store when zero.
	CreatedAt time.Time
	// AuthTime is when the user last authenticated in the session (OIDC
	// auth_time, checked against max_age); set by the store to CreatedAt
	// when zero.
	AuthTime time.Time
	// ExpiresAt is when the session ends.
	ExpiresAt time.Time
	// RevokedAt is when the session was ended by logout or by an
	// administrator; zero means not revoked.
	RevokedAt time.Time
	// AMR are the methods the user authenticated with in the session since
	// its last password or passkey sign-in (RFC 8176 values such as "pwd",
	// "otp", "hwk", "swk", "mfa"), the amr claim of its ID tokens. A second
	// factor adds to them; a new sign-in replaces them.
	AMR []string
	// ACR is the authentication context class the session meets (the
	// issuer's values, such as "urn:keyward:acr:mfa"), the acr claim of
	// its ID tokens; empty for none.
	ACR string
	// LastUsedAt is when the session was last used to sign in to an
	// application or to open the account page, kept to the minute; zero
	// means not since it was created.
	LastUsedAt time.Time
	// Device is a short label of the browser that opened the session
	// ("Firefox on Linux"), derived from its User-Agent, for the user's
	// list of sessions; empty when unknown.
	Device string
}

// LogValue implements [slog.LogValuer]; it leaves out the cookie hash.
func (s Session) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("session_id", s.ID),
		slog.String("user_id", s.UserID),
	)
}

// HasMethod reports whether the session's AMR holds method.
func (s Session) HasMethod(method string) bool { return slices.Contains(s.AMR, method) }

// Active reports whether the session is neither revoked nor expired at now.
func (s Session) Active(now time.Time) bool {
	return s.RevokedAt.IsZero() && now.Before(s.ExpiresAt)
}

// RevokedToken is an access token revoked before its expiry (RFC 7009),
// identified by its jti. It is kept until ExpiresAt, after which the token is
// refused anyway.
type RevokedToken struct {
	// JTI is the token's jti claim.
	JTI string
	// ExpiresAt is the token's exp.
	ExpiresAt time.Time
	// RevokedAt is when it was revoked; set by the store when zero.
	RevokedAt time.Time
}

// UserRevocation revokes every token issued to a user before a cutoff, for
// "log out everywhere" and for disabled accounts.
type UserRevocation struct {
	// UserID is the user whose tokens are revoked.
	UserID string
	// Before is the cutoff: tokens with an iat before it are revoked.
	Before time.Time
}

// GrantKind names what a [RevokedGrant] revokes: a browser session or a
// refresh-token family, each named in the access tokens it produced.
type GrantKind string

// The kinds of [RevokedGrant].
const (
	// GrantSession is an issuer login session; its access tokens carry its
	// ID in the "sid" claim (OpenID Connect's session ID).
	GrantSession GrantKind = "session"
	// GrantFamily is a refresh-token family: the access tokens minted with
	// its first refresh token and by each of its rotations carry its ID in
	// the "fid" claim.
	GrantFamily GrantKind = "family"
)

// Valid reports whether k is one of the defined kinds.
func (k GrantKind) Valid() bool { return k == GrantSession || k == GrantFamily }

// RevokedGrant is a revoked session or refresh-token family as the
// revocation feed publishes it: every access token whose "sid" (for a
// session) or "fid" (for a family) is ID is refused. It is kept until
// ExpiresAt, when every access token it refuses has expired; deleting it
// sooner would let such a token be accepted again. The feed leaves out a
// grant revoked before its user's cutoff ([UserRevocation]), which refuses
// every token the grant refuses: a session or family mints no token after
// its revocation.
type RevokedGrant struct {
	// Kind is GrantSession or GrantFamily.
	Kind GrantKind
	// ID is the session's or the family's ID.
	ID string
	// UserID is the user whose access tokens (their "sub") the grant
	// produced; empty when none. It must be set for the user's cutoff to
	// stand in for the grant in the feed.
	UserID string
	// RevokedAt is when it was revoked; set by the store when zero.
	RevokedAt time.Time
	// ExpiresAt is when the last access token it refuses expires, leeway
	// included.
	ExpiresAt time.Time
}

// RevocationKind names what a [RevocationChange] records.
type RevocationKind string

// The kinds of [RevocationChange].
const (
	// RevocationToken is a revoked access token: Key is its jti, At its
	// expiry.
	RevocationToken RevocationKind = "token"
	// RevocationSession is a revoked session: Key is its ID, At the
	// expiry of its [RevokedGrant].
	RevocationSession RevocationKind = "session"
	// RevocationFamily is a revoked refresh-token family: Key is its ID,
	// At the expiry of its [RevokedGrant].
	RevocationFamily RevocationKind = "family"
	// RevocationUser is a user cutoff: Key is the user ID, At the cutoff
	// in force after the change.
	RevocationUser RevocationKind = "user"
)

// RevocationChange is one entry of the revocation log, the append-only
// record of what the revocation feed publishes, from which verifiers fetch
// the changes since the last one they saw. Seq numbers the changes of one
// store in the order their writes committed, without gaps, so that a reader
// that has seen Seq n has seen every change before it.
type RevocationChange struct {
	// Seq is the change's position in the log, from 1.
	Seq int64
	// Kind says what Key and At are.
	Kind RevocationKind
	// Key is a jti, a session or family ID, or a user ID.
	Key string
	// At is an expiry, or for a user the cutoff.
	At time.Time
}
