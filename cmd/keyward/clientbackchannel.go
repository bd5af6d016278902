package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/cli"
	"github.com/keyward/keyward/issuer"
)

// backchannelHelp describes the back-channel logout flags of "client add"
// and "client set".
const backchannelHelp = `--backchannel-logout-uri registers where the issuer posts a logout token
(OpenID Connect Back-Channel Logout 1.0, backchannel_logout_uri) when a
session in which the client was issued tokens ends: logout, a user's
password change, disable or delete. It is an absolute https URI without a
fragment, or http to a loopback address such as 127.0.0.1 for development;
the issuer posts to it from its own network and follows no redirect.
--backchannel-logout-session-required says that the client needs the sid
claim in its logout tokens (backchannel_logout_session_required).`

// backchannelFlags are the back-channel logout flags of a client command.
type backchannelFlags struct {
	uri             string
	sessionRequired bool
	set             *pflag.FlagSet
}

// register adds the flags to f.
func (b *backchannelFlags) register(f *pflag.FlagSet) {
	b.set = f
	f.StringVar(&b.uri, "backchannel-logout-uri", "", `where the issuer posts logout tokens (backchannel_logout_uri; "" removes it)`)
	f.BoolVar(&b.sessionRequired, "backchannel-logout-session-required", false, "the client needs sid in its logout tokens (backchannel_logout_session_required)")
}

// apply copies the flags given on the command line into c.
func (b *backchannelFlags) apply(c *keyward.Client) {
	if b.set.Changed("backchannel-logout-uri") {
		c.BackchannelLogoutURI = b.uri
	}
	if b.set.Changed("backchannel-logout-session-required") {
		c.BackchannelLogoutSessionRequired = b.sessionRequired
	}
}

// changed reports whether any of the flags was given.
func (b *backchannelFlags) changed() bool {
	return b.set.Changed("backchannel-logout-uri") || b.set.Changed("backchannel-logout-session-required")
}

// backchannelShow is the back-channel line of "client show".
func backchannelShow(c keyward.Client) string {
	switch {
	case c.BackchannelLogoutURI == "":
		return "(none)"
	case c.BackchannelLogoutSessionRequired:
		return c.BackchannelLogoutURI + " (sid required)"
	}
	return c.BackchannelLogoutURI
}

// newClientSetCmd returns "keyward client set", which changes a registered
// client's settings.
func newClientSetCmd(sf *storeFlags) *cobra.Command {
	var (
		backchannel backchannelFlags
		requireDPoP requireDPoPFlag
		jsonOut     bool
	)
	cmd := &cobra.Command{
		Use:   "set CLIENT_ID",
		Short: "Change a client's settings; flags not given keep their value",
		Long: `Change a client's settings; the flags not given keep their value.

` + backchannelHelp + "\n\n" + requireDPoPHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !backchannel.changed() && !requireDPoP.changed() {
				return cli.Usagef("nothing to change: give --backchannel-logout-uri, --backchannel-logout-session-required or --require-dpop")
			}
			ctx := cmd.Context()
			return withStore(ctx, sf, func(store keyward.Store) error {
				if _, err := getClient(ctx, store, args[0]); err != nil {
					return err
				}
				err := store.UpdateClient(ctx, args[0], func(c *keyward.Client) error {
					backchannel.apply(c)
					requireDPoP.apply(c)
					return issuer.ValidateClient(*c)
				})
				if err != nil {
					return err
				}
				c, err := store.GetClient(ctx, args[0])
				if err != nil {
					return err
				}
				if jsonOut {
					return printJSON(cmd.OutOrStdout(), toClientJSON(c))
				}
				fmt.Fprintf(cmd.OutOrStdout(), "client %s updated\n", c.ID)
				return nil
			})
		},
	}
	backchannel.register(cmd.Flags())
	requireDPoP.register(cmd.Flags())
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the client as JSON")
	return cmd
}
