package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/keyward/keyward/issuer"
)

// servePasskeys returns the passkeys of keyward serve, whose relying party
// is the --issuer URL's host: nil, with a passkeys_disabled warning that
// says why, when that URL is neither https with a domain name nor
// http://localhost, as no browser runs a WebAuthn ceremony for it.
func servePasskeys(ctx context.Context, iss *issuer.Issuer, logger *slog.Logger) (*issuer.Passkeys, error) {
	pk, err := issuer.NewPasskeys(iss, issuer.PasskeyConfig{})
	switch {
	case err == nil:
		logger.LogAttrs(ctx, slog.LevelInfo, "passkeys_enabled", slog.String("rp_id", pk.RPID()), slog.String("origin", pk.Origin()))
		return pk, nil
	case errors.Is(err, issuer.ErrPasskeysUnavailable):
		logger.LogAttrs(ctx, slog.LevelWarn, "passkeys_disabled", slog.String("issuer", iss.IssuerURL()),
			slog.String("error", err.Error()))
		return nil, nil
	default:
		return nil, err
	}
}
