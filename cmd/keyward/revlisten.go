package main

import (
	"context"
	"log/slog"

	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/storage/postgres"
)

// revocationListener returns serve's loop that listens for the revocations
// committed by every replica on the PostgreSQL database and wakes the
// long-polls the server holds, so they answer within a round trip rather
// than at their next re-read of the log. A lost connection is logged
// (revocation_listener_lost, warn) and made again; meanwhile the re-read
// every server.RevocationRecheck keeps the bound.
func revocationListener(ps *postgres.Store, api *server.Server, logger *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		return ps.ListenRevocations(ctx, api.WakeRevocations, func(err error) {
			logger.Warn("revocation_listener_lost", slog.String("error", err.Error()))
		})
	}
}
