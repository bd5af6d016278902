package main

import (
	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/cli"
)

// newClientSetCmd returns "keyward client set", which changes settings of a
// registered client: only the flags given change.
func newClientSetCmd(sf *storeFlags) *cobra.Command {
	var (
		requireDPoP bool
		jsonOut     bool
	)
	cmd := &cobra.Command{
		Use:   "set CLIENT_ID",
		Short: "Change settings of a client",
		Long: `Change settings of a registered client; only the flags given change.

--require-dpop (or --require-dpop=false) sets whether every token request
of the client must carry a DPoP proof (RFC 9449; client metadata
dpop_bound_access_tokens). Once set, the client's requests without a proof
are refused with invalid_dpop_proof, so all its new access tokens are bound
to a key it holds; tokens issued before keep working until they expire.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("require-dpop") {
				return cli.Usagef("nothing to change: give --require-dpop or --require-dpop=false")
			}
			return withStore(cmd.Context(), sf, func(store keyward.Store) error {
				if _, err := getClient(cmd.Context(), store, args[0]); err != nil {
					return err
				}
				err := store.UpdateClient(cmd.Context(), args[0], func(c *keyward.Client) error {
					if c.RequireDPoP == requireDPoP {
						return keyward.ErrNoChange
					}
					c.RequireDPoP = requireDPoP
					return nil
				})
				if err != nil {
					return err
				}
				c, err := getClient(cmd.Context(), store, args[0])
				if err != nil {
					return err
				}
				if jsonOut {
					return printJSON(cmd.OutOrStdout(), toClientJSON(c))
				}
				_, err = cmd.OutOrStdout().Write([]byte("client " + c.ID + " updated\n"))
				return err
			})
		},
	}
	f := cmd.Flags()
	f.BoolVar(&requireDPoP, "require-dpop", false, "refuse the client's token requests without a DPoP proof (dpop_bound_access_tokens)")
	f.BoolVar(&jsonOut, "json", false, "print the client as JSON")
	return cmd
}
