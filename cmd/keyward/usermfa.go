package main

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/cli"
	"github.com/keyward/keyward/issuer"
)

// newUserMFACmd returns "keyward user mfa", the administration of users'
// second factors.
func newUserMFACmd(sf *storeFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mfa",
		Short: "Manage users' second factors",
	}
	cmd.AddCommand(newUserMFAResetCmd(sf))
	return cmd
}

// newUserMFAResetCmd returns "keyward user mfa reset NAME".
func newUserMFAResetCmd(sf *storeFlags) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "reset NAME",
		Short: "Remove every second factor of a user who lost them, ending the user's sessions",
		Long: `Remove every second factor of the user (the passkeys, the authenticator
app and the recovery codes included) for a user who lost them all, after
checking who asks. The user's sessions end and the user's tokens are revoked, as
"user disable" does, so that whoever may hold the factors is signed out.
The user signs in next with the password and, when a second factor is
required, sets up a new one right away.

--reason is required: it goes into the audit line mfa_reset, written to
stderr with the user, so that the reset can be traced (a ticket number).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			reason = strings.TrimSpace(reason)
			if reason == "" {
				return cli.Usagef("--reason is required: say why the factors are reset, e.g. --reason \"lost phone, ticket 1234\"")
			}
			return withStore(ctx, sf, func(store keyward.Store) error {
				u, err := getUser(ctx, store, args[0])
				if err != nil {
					return err
				}
				outbox := &logoutOutbox{Store: store}
				_, err = issuer.ResetMFA(ctx, outbox, u.ID, time.Now())
				outbox.report(ctx, cmd.ErrOrStderr(), u.ID)
				if err != nil {
					return err
				}
				audit := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
				audit.WarnContext(ctx, "mfa_reset", slog.String("user_id", u.ID), slog.String("username", u.Username),
					slog.String("reason", reason))
				fmt.Fprintf(cmd.OutOrStdout(), "second factors of user %s removed; %s\n", u.Username, endedAccess)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why the factors are reset, for the audit line (required)")
	return cmd
}
