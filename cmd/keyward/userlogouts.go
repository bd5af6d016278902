package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/issuer"
)

// logoutOutbox is the store as the user commands that end a user's
// sessions hand it to the issuer: every call goes to the store, but a
// failure to queue the back-channel logouts of the ended sessions is kept
// for report instead of failing the end of the sessions, as serve does
// (the sessions, refresh tokens and access tokens end all the same; only
// the clients' notification is lost), and so are the logouts that a full
// outbox drops.
type logoutOutbox struct {
	keyward.Store
	failed  error
	dropped int
}

// QueueBackchannelLogouts queues through the store and keeps what could
// not be queued for [logoutOutbox.report].
func (o *logoutOutbox) QueueBackchannelLogouts(ctx context.Context, userID, sessionID string, ended time.Time, limit int) (queued, dropped int, err error) {
	queued, dropped, err = o.Store.QueueBackchannelLogouts(ctx, userID, sessionID, ended, limit)
	o.dropped += dropped
	if err != nil {
		o.failed = errors.Join(o.failed, err)
	}
	return queued, dropped, nil
}

// report writes to w, as log lines with the names serve uses, the
// back-channel logouts of the user's ended sessions that were not queued:
// backchannel_logout_not_queued with the error, at error level, and
// backchannel_logout_dropped with their count, at warning level.
func (o *logoutOutbox) report(ctx context.Context, w io.Writer, userID string) {
	if o.failed == nil && o.dropped == 0 {
		return
	}
	logger := slog.New(slog.NewTextHandler(w, nil))
	if o.failed != nil {
		logger.ErrorContext(ctx, "backchannel_logout_not_queued", slog.String("user_id", userID), slog.String("error", o.failed.Error()))
	}
	if o.dropped > 0 {
		logger.WarnContext(ctx, "backchannel_logout_dropped", slog.String("user_id", userID),
			slog.Int("dropped", o.dropped), slog.String("reason", "queue_full"))
	}
}

// endUserAccess is [issuer.EndUserAccess] for the user commands: the
// command fails when the user's sessions, refresh tokens or access tokens
// could not be ended; the back-channel logouts that could not be queued
// only make a line on stderr (see [logoutOutbox]).
func endUserAccess(cmd *cobra.Command, store keyward.Store, userID string) error {
	o := &logoutOutbox{Store: store}
	err := issuer.EndUserAccess(cmd.Context(), o, userID, time.Now())
	o.report(cmd.Context(), cmd.ErrOrStderr(), userID)
	return err
}
