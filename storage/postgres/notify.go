package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// RevocationChannel is the PostgreSQL notification channel on which every
// write that appends a change to the revocation log notifies, in its
// transaction (so the notification is delivered when the change commits,
// and never for a change rolled back), with the change's Seq as payload.
const RevocationChannel = "keyward_revocations"

// Bounds of the reconnection backoff of [Store.ListenRevocations].
const (
	listenMinBackoff = 100 * time.Millisecond
	listenMaxBackoff = 5 * time.Second
)

// ListenRevocations listens on [RevocationChannel] until ctx ends, calling
// wake each time a revocation is committed by any process on the database
// (this replica, another one, a CLI command), and once after each
// (re)connection, since changes committed while it was not listening were
// not notified. It holds one connection of its own, taken out of the pool,
// for as long as it listens. When the connection cannot be made or breaks,
// it calls lost (when not nil) with the error and connects again after a
// backoff growing from 100 ms to 5 s, reset by a successful LISTEN. It
// returns nil once ctx ends, and never otherwise: a caller serving
// long-polls keeps its periodic re-read of the log as the fallback, so a
// lost notification delays a wake-up, never loses a revocation.
func (s *Store) ListenRevocations(ctx context.Context, wake func(), lost func(error)) error {
	if wake == nil {
		return errors.New("postgres: ListenRevocations needs a wake function")
	}
	backoff := listenMinBackoff
	for {
		err := s.listen(ctx, wake, func() { backoff = listenMinBackoff })
		if ctx.Err() != nil {
			return nil
		}
		if lost != nil {
			lost(unavailable(err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, listenMaxBackoff)
	}
}

// listen takes a connection out of the pool, listens on
// [RevocationChannel] with it, calls listening then wake, and calls wake
// for each notification until the connection fails or ctx ends; it closes
// the connection before returning.
func (s *Store) listen(ctx context.Context, wake, listening func()) error {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("listen %s: %w", RevocationChannel, err)
	}
	conn := pc.Hijack() // out of the pool: a listening connection is nobody else's
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+RevocationChannel); err != nil {
		return fmt.Errorf("listen %s: %w", RevocationChannel, err)
	}
	listening()
	wake()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return fmt.Errorf("listen %s: %w", RevocationChannel, err)
		}
		wake()
	}
}
