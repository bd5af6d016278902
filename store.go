package keyward

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// UserStore persists users.
type UserStore interface {
	// CreateUser stores a new user. It returns an error wrapping ErrConflict
	// when the ID or the username is taken and ErrInvalid when either is
	// empty. The store sets CreatedAt when zero, and UpdatedAt to CreatedAt
	// when zero.
	CreateUser(ctx context.Context, u User) error
	// GetUser returns the user with the ID, or an error wrapping ErrNotFound.
	GetUser(ctx context.Context, id string) (User, error)
	// GetUserByName returns the user with the username, or an error wrapping
	// ErrNotFound.
	GetUserByName(ctx context.Context, username string) (User, error)
	// ListUsers returns every user ordered by username.
	ListUsers(ctx context.Context) ([]User, error)
	// UpdateUser runs fn on the stored user inside one transaction and stores
	// the result. fn must not change the ID nor call the store; it may be
	// called more than once when the transaction is retried. When fn returns
	// an error nothing is written and the error is returned, except
	// ErrNoChange, which makes UpdateUser return nil. The store sets
	// UpdatedAt to its clock's time unless fn changed it. It returns an error
	// wrapping ErrNotFound when the user does not exist, ErrConflict when the
	// new username is taken, and ErrInvalid when fn changed the ID or emptied
	// the username.
	UpdateUser(ctx context.Context, id string, fn func(*User) error) error
	// DeleteUser removes the user together with its sessions, refresh tokens
	// and authorization codes. It returns an error wrapping ErrNotFound when
	// the user does not exist. It also removes the user's passkeys and
	// passkey ceremonies.
	DeleteUser(ctx context.Context, id string) error
}

// ClientStore persists OAuth 2.0 clients.
type ClientStore interface {
	// CreateClient stores a new client. It returns an error wrapping
	// ErrConflict when the ID is taken and ErrInvalid when it is empty. The
	// store sets CreatedAt when zero.
	CreateClient(ctx context.Context, c Client) error
	// GetClient returns the client with the ID, or an error wrapping
	// ErrNotFound.
	GetClient(ctx context.Context, id string) (Client, error)
	// ListClients returns every client ordered by ID.
	ListClients(ctx context.Context) ([]Client, error)
	// UpdateClient runs fn on the stored client inside one transaction and
	// stores the result, with the same contract as [UserStore.UpdateUser].
	UpdateClient(ctx context.Context, id string, fn func(*Client) error) error
	// DeleteClient removes the client together with its refresh tokens and
	// authorization codes. It returns an error wrapping ErrNotFound when the
	// client does not exist.
	DeleteClient(ctx context.Context, id string) error
}

// KeyStore persists the issuer's signing keys.
type KeyStore interface {
	// ListKeys returns every stored key ordered by CreatedAt, then ID.
	ListKeys(ctx context.Context) ([]SigningKey, error)
	// UpdateKeys runs fn on the stored keys (ordered as by ListKeys) inside
	// one exclusive transaction and replaces the stored set with its result:
	// keys with a new ID are inserted, changed keys updated, missing keys
	// deleted. Exclusive means that concurrent calls, in this process or in
	// others sharing the database, run one after the other, so that "rotate
	// if the newest key is older than X" rotates exactly once. When fn
	// returns ErrNoChange nothing is written and UpdateKeys returns nil; any
	// other error is returned and nothing is written. fn may be called more
	// than once when the transaction is retried; it must be quick and must
	// not call the store: generate keys before calling UpdateKeys. A result
	// with an empty or duplicate ID, an invalid state or an invalid purpose
	// makes UpdateKeys return an error wrapping ErrInvalid. The store sets
	// CreatedAt when zero.
	UpdateKeys(ctx context.Context, fn func(current []SigningKey) ([]SigningKey, error)) error
}

// RevokedFamilyRetention is how long a store remembers that a refresh-token
// family was revoked ([RefreshTokenStore.RevokeRefreshFamily]), refusing
// any token created in it. The tokens that exist when a family is revoked
// are revoked themselves and stay so; the record only has to outlive the
// issuance of a token already under way, which takes seconds: a day is far
// beyond that, and costs one small row per revoked family and day.
const RevokedFamilyRetention = 24 * time.Hour

// RefreshTokenStore persists refresh tokens and implements their rotation
// with reuse detection (RFC 9700 §4.14.2).
type RefreshTokenStore interface {
	// CreateRefreshToken stores the first token of a new family. It returns
	// an error wrapping ErrInvalid when the hash or the family ID is empty,
	// ErrConflict when the hash exists, and ErrRevoked when the family has
	// been revoked (see [RefreshTokenStore.RevokeRefreshFamily]), in which
	// case nothing is stored. The store sets IssuedAt when zero.
	CreateRefreshToken(ctx context.Context, t RefreshToken) error
	// RotateRefreshToken exchanges the token with hash oldHash for next in
	// one atomic operation. When the old token exists, is unused, not revoked
	// and not expired at now, it is marked used at now, next is stored, and
	// the old token is returned as now stored. The store copies FamilyID,
	// ExpiresAt, UserID, ClientID and SessionID from the old token into next,
	// whatever next held, so a rotation can neither move a token to another
	// family, user or client nor extend the family's life; it sets
	// next.IssuedAt to now when zero.
	//
	// Errors, checked in this order, all wrapping a sentinel:
	//   - ErrNotFound: no token has the hash; the returned token is zero.
	//   - ErrRefreshReused: the token was already used. Its family is
	//     revoked at now, as by [RefreshTokenStore.RevokeRefreshFamily],
	//     before RotateRefreshToken returns.
	//   - ErrRevoked: the token, or its family, was revoked.
	//   - ErrExpired: now is at or past ExpiresAt.
	//   - ErrConflict: next.Hash exists; nothing is written.
	//   - ErrInvalid: next.Hash is empty; nothing is written.
	// With these errors but ErrNotFound the old token is returned as stored,
	// so the caller can log its family, user and client. Of concurrent
	// rotations of one token, in one process or several, exactly one
	// succeeds and the others get ErrRefreshReused.
	RotateRefreshToken(ctx context.Context, oldHash []byte, next RefreshToken, now time.Time) (RefreshToken, error)
	// GetRefreshToken returns the token with the hash, whatever its state,
	// or an error wrapping ErrNotFound.
	GetRefreshToken(ctx context.Context, hash []byte) (RefreshToken, error)
	// RevokeRefreshFamily revokes every token of the family at now. Tokens
	// already revoked keep their RevokedAt. An unknown family is not an
	// error. The store also remembers the family as revoked, for
	// [RevokedFamilyRetention] (see
	// [RefreshTokenStore.DeleteExpiredRefreshTokens]): a token created in it
	// afterwards, by CreateRefreshToken or as the successor of a rotation
	// racing the revocation, is refused with ErrRevoked. So a family revoked
	// before its first token is stored stays revoked: when an authorization
	// code is redeemed twice at once, the second redemption revokes the
	// code's family (RFC 6749 §4.1.2), possibly before the first one has
	// stored the family's first token, which is then refused instead of
	// surviving the reuse. Of a revocation and a creation racing in one
	// family, in one process or several, either the creation fails or the
	// token it stored is revoked.
	RevokeRefreshFamily(ctx context.Context, familyID string, now time.Time) error
	// RevokeSessionRefreshTokens revokes at now every token issued in the
	// session, like [RefreshTokenStore.RevokeRefreshFamily].
	RevokeSessionRefreshTokens(ctx context.Context, sessionID string, now time.Time) error
	// RevokeUserRefreshTokens revokes at now every token of the user, like
	// [RefreshTokenStore.RevokeRefreshFamily].
	RevokeUserRefreshTokens(ctx context.Context, userID string, now time.Time) error
	// DeleteExpiredRefreshTokens deletes the tokens whose ExpiresAt is at or
	// before now and returns how many it deleted. It also forgets the family
	// revocations made [RevokedFamilyRetention] or more before now; those
	// are not counted.
	DeleteExpiredRefreshTokens(ctx context.Context, now time.Time) (int, error)
}

// AuthCodeStore persists authorization codes (RFC 6749 §4.1).
type AuthCodeStore interface {
	// CreateAuthCode stores a new code. It returns an error wrapping
	// ErrConflict when the hash exists and ErrInvalid when it is empty.
	CreateAuthCode(ctx context.Context, c AuthCode) error
	// ConsumeAuthCode marks the code with the hash used at now and returns it,
	// atomically, so that a code is exchanged at most once. Errors, checked in
	// this order: ErrNotFound (the returned code is zero); ErrCodeReused when
	// the code was used before, returned with the code so the caller can
	// revoke what its first use issued (RFC 6749 §4.1.2); ErrExpired when now
	// is at or past ExpiresAt, returned with the code.
	ConsumeAuthCode(ctx context.Context, hash []byte, now time.Time) (AuthCode, error)
	// DeleteExpiredAuthCodes deletes the codes whose ExpiresAt is at or
	// before now and returns how many it deleted.
	DeleteExpiredAuthCodes(ctx context.Context, now time.Time) (int, error)
}

// SessionStore persists the issuer's login sessions.
type SessionStore interface {
	// CreateSession stores a new session. It returns an error wrapping
	// ErrConflict when the ID or the cookie hash exists and ErrInvalid when
	// either is empty. The store sets CreatedAt when zero, and AuthTime to
	// CreatedAt when zero.
	CreateSession(ctx context.Context, s Session) error
	// GetSession returns the session with the ID whatever its state (see
	// [Session.Active]), or an error wrapping ErrNotFound.
	GetSession(ctx context.Context, id string) (Session, error)
	// GetSessionByCookie returns the session whose CookieHash is hash,
	// whatever its state, or an error wrapping ErrNotFound. A cookie hash
	// replaced by [SessionStore.UpdateSession] no longer finds the session.
	GetSessionByCookie(ctx context.Context, hash []byte) (Session, error)
	// UpdateSession runs fn on the stored session inside one transaction and
	// stores the CookieHash, AuthTime, ExpiresAt, AMR, ACR and LastUsedAt of
	// the result. fn must
	// not call the store; it may be called more than once when the
	// transaction is retried. When fn returns an error nothing is written
	// and the error is returned, except ErrNoChange, which makes
	// UpdateSession return nil. It returns an error wrapping ErrNotFound when
	// the session does not exist, ErrConflict when the new cookie hash
	// belongs to another session, and ErrInvalid when fn emptied the cookie
	// hash or changed the ID, UserID, CreatedAt or RevokedAt (a session is
	// ended only by [SessionStore.RevokeSession] and
	// [SessionStore.RevokeUserSessions], and never reopened).
	UpdateSession(ctx context.Context, id string, fn func(*Session) error) error
	// RevokeSession revokes the session at now; a revoked session keeps its
	// first RevokedAt. It does not touch the session's refresh tokens (see
	// [RefreshTokenStore.RevokeSessionRefreshTokens]). It returns an error
	// wrapping ErrNotFound when the session does not exist.
	RevokeSession(ctx context.Context, id string, now time.Time) error
	// RevokeUserSessions revokes at now every session of the user, like
	// [SessionStore.RevokeSession]. A user without sessions is not an error.
	RevokeUserSessions(ctx context.Context, userID string, now time.Time) error
	// DeleteExpiredSessions deletes the sessions whose ExpiresAt is at or
	// before now and returns how many it deleted.
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)
	// ListUserSessions returns the user's sessions that are active at now
	// (see [Session.Active]), most recently created first.
	ListUserSessions(ctx context.Context, userID string, now time.Time) ([]Session, error)
}

// RevocationStore persists what the revocation feed publishes (revoked
// access tokens, sessions, refresh-token families and user cutoffs) and the
// replay guard for client assertions.
type RevocationStore interface {
	// RevokeAccessToken records the revocation of the access token with
	// t.JTI. It is idempotent: revoking a jti again keeps the first record.
	// It appends no change to the revocation log when the token is revoked
	// before its subject's cutoff, which already refuses it. It returns an
	// error wrapping ErrInvalid when the jti is empty. The store sets
	// RevokedAt when zero.
	RevokeAccessToken(ctx context.Context, t RevokedToken) error
	// IsAccessTokenRevoked reports whether the jti has been revoked.
	IsAccessTokenRevoked(ctx context.Context, jti string) (bool, error)
	// ListRevokedTokens returns the revocations the feed publishes: those
	// whose ExpiresAt is after now, except those revoked before their
	// Subject's cutoff, which refuses them too; ordered by JTI.
	ListRevokedTokens(ctx context.Context, now time.Time) ([]RevokedToken, error)
	// UserCutoff returns the cutoff recorded for the user (or token
	// subject) ID, the zero time when none is.
	UserCutoff(ctx context.Context, userID string) (time.Time, error)
	// RevokeUser records a cutoff for the user's tokens. When a cutoff
	// exists, the later of the two is kept. It returns an error wrapping
	// ErrInvalid when the user ID is empty.
	RevokeUser(ctx context.Context, r UserRevocation) error
	// ListUserRevocations returns every user cutoff ordered by user ID.
	ListUserRevocations(ctx context.Context) ([]UserRevocation, error)
	// DeleteUserRevocations deletes the user cutoffs whose Before is at or
	// before horizon and returns how many it deleted, with their changes in
	// the revocation log, raising its floor past them. A cutoff matters only
	// while a token issued before it may still be accepted somewhere, so the
	// caller passes a horizon no later than now minus the longest
	// access-token lifetime and the largest leeway a verifier applies;
	// deleting a cutoff any sooner would let such a token be accepted again.
	DeleteUserRevocations(ctx context.Context, horizon time.Time) (int, error)
	// UseJTI records that the jti of a JWT issued by issuer (a client
	// assertion, RFC 7523 §3) has been seen, until exp. The first call
	// returns nil; a later call with the same issuer and jti returns an error
	// wrapping ErrConflict, so the caller refuses the replay.
	UseJTI(ctx context.Context, issuer, jti string, exp time.Time) error
	// RevokeGrant records the revocation of a session or refresh-token
	// family, whose access tokens the feed then refuses. It is idempotent:
	// revoking a grant again keeps the first RevokedAt, UserID and the
	// later ExpiresAt, so a repeated revocation never shortens the time its
	// tokens are refused. It appends no change to the revocation log when
	// the grant is revoked before its user's cutoff, which already refuses
	// its tokens. It returns an error wrapping ErrInvalid when the ID is
	// empty or the kind unknown. The store sets RevokedAt when zero.
	RevokeGrant(ctx context.Context, g RevokedGrant) error
	// IsGrantRevoked reports whether the session or family with the kind
	// and ID has been revoked, as long as its record is kept.
	IsGrantRevoked(ctx context.Context, kind GrantKind, id string) (bool, error)
	// ListRevokedGrants returns the grant revocations the feed publishes:
	// those whose ExpiresAt is after now, except those of a user revoked
	// before the user's cutoff (its Before), which refuses their tokens
	// too; ordered by Kind and then ID.
	ListRevokedGrants(ctx context.Context, now time.Time) ([]RevokedGrant, error)
	// CountUserEntries returns how many grant revocations of the user and
	// access-token revocations with the user ID as Subject have an expiry
	// after now, those revoked before the user's cutoff included, counting
	// no further than limit, so that the issuer can publish a cutoff
	// instead of letting one user or client grow the feed.
	CountUserEntries(ctx context.Context, userID string, now time.Time, limit int) (int, error)
	// DeleteExpiredRevocations deletes the access-token revocations, the
	// grant revocations and the seen JTIs whose expiry is at or before now
	// and returns how many it deleted. It also deletes their changes from
	// the revocation log, without raising its floor: a reader drops an
	// entry at its expiry by itself.
	DeleteExpiredRevocations(ctx context.Context, now time.Time) (int, error)
	// RevocationLogHead returns the Seq of the latest change of the
	// revocation log (zero: none yet) and the log's floor: the highest Seq
	// of a change deleted while a reader may still hold its entry (a user
	// cutoff deleted by DeleteUserRevocations). A reader whose last seen
	// Seq is below the floor, or above the head, must read the full state
	// again. Every write that RevokeAccessToken (when it records a new
	// jti), RevokeGrant and RevokeUser make appends one change, in the same
	// transaction, and writes append in the order they commit.
	RevocationLogHead(ctx context.Context) (head, floor int64, err error)
	// ListRevocationChanges returns at most limit changes of the log with a
	// Seq after since, in Seq order.
	ListRevocationChanges(ctx context.Context, since int64, limit int) ([]RevocationChange, error)
}

// Store is everything the issuer persists. Implementations are safe for
// concurrent use.
//
// When a backend cannot reach its database (the connection is refused,
// reset or times out, the server is shutting down, or, for an embedded
// database, its file cannot be locked or read), every method returns an
// error wrapping [ErrUnavailable], with the driver's error wrapped beside it
// for the log. The condition is temporary: the store reconnects by itself
// once the database is back, without being reopened, so the caller answers
// "try again later" (HTTP 503 with Retry-After) rather than failing for
// good. A write that fails so was not applied, except when the connection
// broke while the database was committing it, which no client of a
// database can tell apart; the one-time values such a write spends (a code,
// a refresh token) are then spent.
type Store interface {
	UserStore
	ClientStore
	KeyStore
	RefreshTokenStore
	AuthCodeStore
	SessionStore
	RevocationStore
	BackchannelStore
	MFAStore
	PasskeyStore
	ThrottleStore
	// Ping reports whether the store is reachable, for readiness checks; an
	// unreachable database gives an error wrapping [ErrUnavailable].
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}

// StoredTime returns t as every store gives it back: truncated to the
// microsecond, in UTC, without a monotonic clock reading. Backends pass
// every time they keep or compare through it, so that a value read back
// equals the value written, on every backend alike.
func StoredTime(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }

// IgnoreNoChange returns nil when err is or wraps [ErrNoChange], and err
// otherwise. Stores apply it to the error of an update function
// ([UserStore.UpdateUser], [KeyStore.UpdateKeys], ...), which returns
// ErrNoChange to say that nothing is to be written.
func IgnoreNoChange(err error) error {
	if errors.Is(err, ErrNoChange) {
		return nil
	}
	return err
}

// ValidateKeySet checks the key set an update function handed to
// [KeyStore.UpdateKeys] returned: every key has an ID, a valid state and a
// valid purpose, and no two keys share an ID, so that a kid names one key
// and no token is ever signed by a key a verifier cannot tell apart. It
// returns an error wrapping [ErrInvalid] naming the first offending key.
func ValidateKeySet(keys []SigningKey) error {
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if k.ID == "" || !k.State.Valid() || !k.Purpose.Valid() {
			return fmt.Errorf("key %q: empty id, invalid state %q or invalid purpose %q: %w", k.ID, k.State, k.Purpose, ErrInvalid)
		}
		if seen[k.ID] {
			return fmt.Errorf("duplicate key id %q: %w", k.ID, ErrInvalid)
		}
		seen[k.ID] = true
	}
	return nil
}

// Validate checks what a new refresh token needs before it is stored: a
// hash, by which it is found, and a family, which reuse detection revokes as
// a whole. It returns an error wrapping [ErrInvalid] when either is empty.
func (r RefreshToken) Validate() error {
	if len(r.Hash) == 0 || r.FamilyID == "" {
		return fmt.Errorf("empty hash or family id: %w", ErrInvalid)
	}
	return nil
}

// RotationError returns why r, as stored, cannot be rotated at now, checked
// in the order of [RefreshTokenStore.RotateRefreshToken]'s contract:
// [ErrRefreshReused] when it was used before (the caller then revokes its
// family), [ErrRevoked], then [ErrExpired] when now is at or past ExpiresAt.
// It returns nil when r can be rotated.
func (r RefreshToken) RotationError(now time.Time) error {
	switch {
	case !r.UsedAt.IsZero():
		return ErrRefreshReused
	case !r.RevokedAt.IsZero():
		return ErrRevoked
	case !now.Before(r.ExpiresAt):
		return ErrExpired
	}
	return nil
}

// Successor returns next as it is stored when it replaces r in a rotation at
// now: it takes r's FamilyID, ExpiresAt, UserID, ClientID and SessionID,
// and r's JKT when r is bound to a DPoP key, whatever next held, so that a
// rotation can neither move a token to another family, user, client or
// DPoP key, nor unbind it, nor extend the family's life (an unbound token's
// successor may be bound); it is unused and not revoked; and its IssuedAt
// is now when zero.
func (r RefreshToken) Successor(next RefreshToken, now time.Time) RefreshToken {
	next.FamilyID, next.ExpiresAt = r.FamilyID, r.ExpiresAt
	next.UserID, next.ClientID, next.SessionID = r.UserID, r.ClientID, r.SessionID
	if r.JKT != "" {
		next.JKT = r.JKT
	}
	next.UsedAt, next.RevokedAt = time.Time{}, time.Time{}
	if next.IssuedAt.IsZero() {
		next.IssuedAt = now
	}
	return next
}

// ConsumeError returns why c, as stored, cannot be exchanged at now, in the
// order of [AuthCodeStore.ConsumeAuthCode]'s contract: [ErrCodeReused] when
// it was used before, then [ErrExpired] when now is at or past ExpiresAt. It
// returns nil when c can be exchanged.
func (c AuthCode) ConsumeError(now time.Time) error {
	switch {
	case !c.UsedAt.IsZero():
		return ErrCodeReused
	case !now.Before(c.ExpiresAt):
		return ErrExpired
	}
	return nil
}

// CheckSessionUpdate checks the result next of an update function given to
// [SessionStore.UpdateSession] against the stored session old: the update
// may change the cookie hash, AuthTime, ExpiresAt, AMR, ACR and LastUsedAt
// only, and may not empty the cookie hash, so that an update can neither move a session to another
// user nor reopen a revoked one. It returns an error wrapping [ErrInvalid]
// otherwise.
func CheckSessionUpdate(old, next Session) error {
	if next.ID != old.ID || next.UserID != old.UserID || !next.CreatedAt.Equal(old.CreatedAt) ||
		!next.RevokedAt.Equal(old.RevokedAt) || len(next.CookieHash) == 0 {
		return fmt.Errorf("id, user, creation or revocation changed, or cookie hash empty: %w", ErrInvalid)
	}
	return nil
}

// Validate checks what a new user needs before it is stored: an ID, the
// subject of its tokens, and a username, by which it logs in. It returns an
// error wrapping [ErrInvalid] when either is empty.
func (u User) Validate() error {
	if u.ID == "" || u.Username == "" {
		return fmt.Errorf("empty id or username: %w", ErrInvalid)
	}
	return nil
}

// CheckUserUpdate checks the result next of an update function given to
// [UserStore.UpdateUser] against the stored user old: the ID, the subject
// of every token issued to the user, never changes, and the username is
// never emptied. It returns an error wrapping [ErrInvalid] otherwise.
func CheckUserUpdate(old, next User) error {
	if next.ID != old.ID || next.Username == "" {
		return fmt.Errorf("id changed or username empty: %w", ErrInvalid)
	}
	return nil
}

// Validate checks what a new session needs before it is stored: an ID, by
// which tokens name it, and the hash of its cookie, by which the browser
// holding it is found. It returns an error wrapping [ErrInvalid] when either
// is empty.
func (s Session) Validate() error {
	if s.ID == "" || len(s.CookieHash) == 0 {
		return fmt.Errorf("empty id or cookie hash: %w", ErrInvalid)
	}
	return nil
}
