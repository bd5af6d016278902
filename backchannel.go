package keyward

import (
	"context"
	"time"
)

// DefaultBackchannelQueueLimit is the number of logouts the back-channel
// outbox holds at most when the caller of
// [BackchannelStore.QueueBackchannelLogouts] has no other bound: a few
// minutes of logouts at any rate a login-throttled issuer reaches, and a few
// megabytes of rows.
const DefaultBackchannelQueueLimit = 10000

// BackchannelLogout is a notification of OpenID Connect Back-Channel Logout
// 1.0 waiting in the store's outbox: the session SessionID of the user
// UserID has ended, and the client ClientID, which was issued tokens in it
// and registered a back-channel logout URI, is to receive a logout token
// saying so. The outbox holds no token: the deliverer signs one for each
// attempt, so the outbox holds nothing a reader could replay.
type BackchannelLogout struct {
	// ID identifies the logout in the outbox; the store assigns it.
	ID int64
	// ClientID is the client to notify.
	ClientID string
	// UserID is the user whose session ended, the logout token's sub.
	UserID string
	// SessionID is the session that ended, the logout token's sid.
	SessionID string
	// CreatedAt is when the logout was queued; set by the store.
	CreatedAt time.Time
	// Attempts counts the claims made on the logout
	// ([BackchannelStore.ClaimBackchannelLogouts]), the delivery in
	// progress included.
	Attempts int
	// NextAttemptAt is when the logout may next be claimed.
	NextAttemptAt time.Time
}

// BackchannelStore persists what OpenID Connect Back-Channel Logout 1.0
// needs: which clients were issued tokens in each session, and the outbox of
// logouts waiting to be delivered. The outbox lives in the store, not in a
// process, so that a session ended by one process (the command line next to
// a running issuer, or another replica) is delivered by whichever issuer
// runs the deliverer, and a restart loses nothing queued.
type BackchannelStore interface {
	// AddSessionClient records that the client was issued tokens in the
	// session, so that the end of the session queues a logout for it. It
	// is idempotent. A session that does not exist records nothing and is
	// not an error. The record goes when the session is deleted.
	AddSessionClient(ctx context.Context, sessionID, clientID string) error
	// QueueBackchannelLogouts queues one logout for each client recorded
	// in each session ended at ended — the session sessionID when it is
	// not empty, else every session of the user userID — whose RevokedAt
	// is ended and whose ExpiresAt is after it, and whose client has a
	// BackchannelLogoutURI. Since a revoked session keeps its first
	// RevokedAt, only the sessions ended by the revocation made at ended
	// are queued, and a session ended again queues nothing more. The
	// outbox holds at most limit logouts (concurrent calls may add a few
	// beyond it): the logouts that do not fit are dropped and counted in
	// dropped, so that no number of ended sessions grows the outbox
	// without bound. The store sets CreatedAt and NextAttemptAt to ended.
	QueueBackchannelLogouts(ctx context.Context, userID, sessionID string, ended time.Time, limit int) (queued, dropped int, err error)
	// ClaimBackchannelLogouts returns at most limit logouts whose
	// NextAttemptAt is at or before now, the earliest first, after adding
	// one to their Attempts and setting their NextAttemptAt to
	// now+lease, in one transaction: concurrent claims, in this process or
	// in others sharing the database, never return the same logout until
	// the lease has passed, and a claimer that dies mid-delivery leaves
	// the logout to be claimed again after it.
	ClaimBackchannelLogouts(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]BackchannelLogout, error)
	// RetryBackchannelLogout sets the NextAttemptAt of the logout with the
	// ID to next. An unknown ID is not an error.
	RetryBackchannelLogout(ctx context.Context, id int64, next time.Time) error
	// DeleteBackchannelLogout removes the logout with the ID from the
	// outbox, once delivered or given up. An unknown ID is not an error.
	DeleteBackchannelLogout(ctx context.Context, id int64) error
}
