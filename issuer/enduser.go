package issuer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keyward/keyward"
)

// UserAccessStore is what [EndUserAccess] needs of a store.
type UserAccessStore interface {
	keyward.SessionStore
	keyward.RefreshTokenStore
	keyward.RevocationStore
	keyward.BackchannelStore
}

// EndUserAccess ends, at now, everything the user with the ID holds: the
// user's browser sessions (no more codes without a new login), every
// refresh-token family (no more refreshes), and every access token issued
// before now, through a user cutoff in the revocation feed that verifiers
// following it apply within their poll bound. It is the one rule behind
// disabling a user, deleting one and changing a password (unless the
// sessions are kept on purpose). It then queues a back-channel logout
// (OpenID Connect Back-Channel Logout 1.0) for every client issued tokens
// in a session it ended, which the issuer's deliverer sends; the logouts
// that do not fit in the outbox ([keyward.DefaultBackchannelQueueLimit])
// are dropped. All the steps run even when one fails; the error joins
// their failures.
func EndUserAccess(ctx context.Context, store UserAccessStore, userID string, now time.Time) error {
	if userID == "" {
		return fmt.Errorf("issuer: end user access: %w", keyward.ErrInvalid)
	}
	revoked := store.RevokeUserSessions(ctx, userID, now)
	var queued error
	if revoked == nil {
		_, _, queued = store.QueueBackchannelLogouts(ctx, userID, "", now, keyward.DefaultBackchannelQueueLimit)
	}
	err := errors.Join(
		revoked,
		store.RevokeUserRefreshTokens(ctx, userID, now),
		store.RevokeUser(ctx, keyward.UserRevocation{UserID: userID, Before: now}),
		queued,
	)
	if err != nil {
		return fmt.Errorf("issuer: end access of user %q: %w", userID, err)
	}
	return nil
}
