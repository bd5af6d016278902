package server

import (
	"context"

	"github.com/keyward/keyward"
)

// WakeOnRevoke returns the store with each successful revocation write
// (RevokeAccessToken, RevokeGrant, RevokeUser) followed by wake, typically
// [Server.WakeRevocations]: the in-process wake-up of a store whose writers
// cannot notify each other (SQLite, memory), so that the long-polls held by
// this process answer a revocation made through it at once, rather than at
// their next re-read of the log ([RevocationRecheck]). A revocation written
// by another process on the same database (a keyward CLI command on the
// SQLite file) is still seen at the re-read. Every other method is the
// store's own. A PostgreSQL store needs none: its writes notify every
// replica, this one included.
func WakeOnRevoke(store keyward.Store, wake func()) keyward.Store {
	return &wakingStore{Store: store, wake: wake}
}

// wakingStore is the store of [WakeOnRevoke].
type wakingStore struct {
	keyward.Store
	wake func()
}

// RevokeAccessToken implements [keyward.RevocationStore].
func (s *wakingStore) RevokeAccessToken(ctx context.Context, t keyward.RevokedToken) error {
	return s.then(s.Store.RevokeAccessToken(ctx, t))
}

// RevokeGrant implements [keyward.RevocationStore].
func (s *wakingStore) RevokeGrant(ctx context.Context, g keyward.RevokedGrant) error {
	return s.then(s.Store.RevokeGrant(ctx, g))
}

// RevokeUser implements [keyward.RevocationStore].
func (s *wakingStore) RevokeUser(ctx context.Context, r keyward.UserRevocation) error {
	return s.then(s.Store.RevokeUser(ctx, r))
}

// then wakes the long-polls after a write that succeeded.
func (s *wakingStore) then(err error) error {
	if err == nil {
		s.wake()
	}
	return err
}
