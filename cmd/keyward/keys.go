package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/issuer"
)

// newKeysCmd returns "keyward keys", the signing keys in the store.
func newKeysCmd(a *app) *cobra.Command {
	sf := storeFlags{lookupEnv: a.lookupEnv}
	var kf keyFlags
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "List, rotate, import and retire the issuer's signing keys",
		Long: `Work on the signing keys in the store that "keyward serve" uses. Give the
same --alg, --access-ttl and --rotate-every as serve, so that the schedule
agrees. A running server sees the change at its next check (within 5 seconds).`,
	}
	cmd.PersistentFlags().StringVar(&sf.data, "data", defaultDataDir, "data directory")
	cmd.PersistentFlags().StringVar(&sf.db, "db", "", "store: sqlite:PATH or postgres://... (default sqlite:<data>/keyward.db)")
	cmd.PersistentFlags().StringVar(&kf.alg, "alg", "RS256", "algorithm of new keys")
	cmd.PersistentFlags().DurationVar(&kf.accessTTL, "access-ttl", 15*time.Minute, "access-token lifetime (as given to serve)")
	cmd.PersistentFlags().DurationVar(&kf.rotateEvery, "rotate-every", 720*time.Hour, "rotation period (as given to serve)")

	// manager opens the store and the key manager for one operation.
	manager := func(cmd *cobra.Command, fn func(*issuer.KeyManager, keyward.Store) error) error {
		return withStore(cmd.Context(), &sf, func(store keyward.Store) error {
			mk, err := sf.masterKey(false)
			if err != nil {
				return err
			}
			km, err := kf.keyManager(store, mk, nil, nil)
			if err != nil {
				return err
			}
			return fn(km, store)
		})
	}

	var jsonOut bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List the keys with their state and schedule",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd.Context(), &sf, func(store keyward.Store) error {
				keys, err := store.ListKeys(cmd.Context())
				if err != nil {
					return err
				}
				if jsonOut {
					type keyJSON struct {
						KID        string    `json:"kid"`
						Alg        string    `json:"alg"`
						Purpose    string    `json:"purpose"`
						State      string    `json:"state"`
						CreatedAt  time.Time `json:"created_at"`
						ActivateAt time.Time `json:"activate_at,omitzero"`
						RetireAt   time.Time `json:"retire_at,omitzero"`
						RemoveAt   time.Time `json:"remove_at,omitzero"`
						PublicJWK  jsonRaw   `json:"public_jwk"`
					}
					out := make([]keyJSON, 0, len(keys))
					for _, k := range keys {
						out = append(out, keyJSON{k.ID, k.Algorithm, purposeName(k.Purpose), string(k.State), k.CreatedAt, k.ActivateAt, k.RetireAt, k.RemoveAt, jsonRaw(k.PublicJWK)})
					}
					return printJSON(cmd.OutOrStdout(), out)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "KID\tALG\tPURPOSE\tSTATE\tCREATED\tACTIVATE_AT\tRETIRE_AT\tREMOVE_AT")
				for _, k := range keys {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Algorithm, purposeName(k.Purpose), k.State,
						stamp(k.CreatedAt), stamp(k.ActivateAt), stamp(k.RetireAt), stamp(k.RemoveAt))
				}
				return tw.Flush()
			})
		},
	}
	list.Flags().BoolVar(&jsonOut, "json", false, "print JSON")

	var rotateNow bool
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Add a new key: published now, signing after the pre-publication window (or at once with --now)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return manager(cmd, func(km *issuer.KeyManager, _ keyward.Store) error {
				kid, err := km.Rotate(cmd.Context(), rotateNow)
				if err != nil {
					return err
				}
				if rotateNow {
					fmt.Fprintf(cmd.OutOrStdout(), "key %s is active now\n", kid)
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "key %s is published and becomes active at %s\n", kid,
						time.Now().Add(km.Config().PrePublish).UTC().Format(time.RFC3339))
				}
				return nil
			})
		},
	}
	rotate.Flags().BoolVar(&rotateNow, "now", false, "activate the new key at once (verifiers meet an unknown kid and refetch)")

	var importNow bool
	imp := &cobra.Command{
		Use:   "import FILE",
		Short: "Import a PEM private key as a new signing key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			signer, err := readSigningKey(args[0])
			if err != nil {
				return err
			}
			return manager(cmd, func(km *issuer.KeyManager, _ keyward.Store) error {
				kid, err := km.Import(cmd.Context(), signer, importNow)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "key %s imported\n", kid)
				return nil
			})
		},
	}
	imp.Flags().BoolVar(&importNow, "now", false, "activate the imported key at once")

	retire := &cobra.Command{
		Use:   "retire KID",
		Short: "Retire a key now; it stays published until the tokens it signed have expired",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return manager(cmd, func(km *issuer.KeyManager, _ keyward.Store) error {
				if err := km.Retire(cmd.Context(), args[0]); err != nil {
					return err
				}
				s, err := km.Signer()
				if err != nil {
					return err
				}
				if id, err := km.IDTokenSigner(issuer.RequiredIDTokenAlgorithm); err == nil && id.KeyID() != s.KeyID() {
					fmt.Fprintf(cmd.OutOrStdout(), "key %s retired; %s signs, %s signs RS256 ID tokens\n", args[0], s.KeyID(), id.KeyID())
					return nil
				}
				fmt.Fprintf(cmd.OutOrStdout(), "key %s retired; %s signs\n", args[0], s.KeyID())
				return nil
			})
		},
	}
	cmd.AddCommand(list, rotate, imp, retire)
	return cmd
}

// purposeName names a key's purpose: "primary" (access tokens, and ID
// tokens by default) or "id_token" (the RS256 keys of ID tokens).
func purposeName(p keyward.KeyPurpose) string {
	if p == keyward.KeyPurposePrimary {
		return "primary"
	}
	return string(p)
}

// jsonRaw embeds stored JSON as is.
type jsonRaw []byte

// MarshalJSON returns the raw JSON.
func (j jsonRaw) MarshalJSON() ([]byte, error) {
	if len(j) == 0 {
		return []byte("null"), nil
	}
	return j, nil
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
