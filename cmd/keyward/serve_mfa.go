package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/keyward/keyward/issuer"
)

// requireMFAError is the error of serve --require-mfa when the master key,
// which seals the authenticator-app secrets, cannot be had: no user could
// set up a second factor, so serve does not start, and the error names the
// fixes.
func requireMFAError(err error, data string) error {
	return fmt.Errorf("--require-mfa needs the master key, which seals the users' authenticator-app secrets: %w; set %s, or let serve create %s (a writable --data)",
		err, masterKeyEnv, filepath.Join(data, "master.key"))
}

// warnNoSecondFactor logs second_factors_unavailable (warning) when the
// issuer offers no second factor to set up: no TOTP (no master key, as with
// a --signing-key that signs RS256) and no passkeys (an issuer URL that is
// neither https nor localhost). A user marked with user set --require-mfa
// then cannot sign in, and is told to contact the operator.
func warnNoSecondFactor(ctx context.Context, logger *slog.Logger, iss *issuer.Issuer, passkeys *issuer.Passkeys, data string) {
	if iss.TOTPAvailable() || passkeys != nil {
		return
	}
	logger.LogAttrs(ctx, slog.LevelWarn, "second_factors_unavailable",
		slog.String("error", fmt.Sprintf("no authenticator apps (no master key) and no passkeys (issuer %s): users who must use a second factor cannot sign in; set %s or let serve create %s, or serve passkeys with an https --issuer",
			iss.IssuerURL(), masterKeyEnv, filepath.Join(data, "master.key"))))
}
