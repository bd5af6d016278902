package main

import (
	"fmt"
	"log/slog"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/cli"
	"github.com/keyward/keyward/issuer"
	"github.com/keyward/keyward/jose"
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

	// manager opens the store and the key manager for one operation; with
	// audit, the manager's audit lines go to stderr.
	manager := func(cmd *cobra.Command, audit bool, fn func(*issuer.KeyManager, keyward.Store) error) error {
		return withStore(cmd.Context(), &sf, func(store keyward.Store) error {
			mk, err := sf.masterKey(false)
			if err != nil {
				return err
			}
			var logger *slog.Logger
			if audit {
				if logger, err = newLogger(cmd.ErrOrStderr(), "text", "info"); err != nil {
					return err
				}
			}
			km, err := kf.keyManager(store, mk, nil, logger)
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
						// VerifyOnly marks a key imported with
						// --verify-only: stored without its private
						// half, it never signs.
						VerifyOnly bool `json:"verify_only,omitempty"`
					}
					out := make([]keyJSON, 0, len(keys))
					for _, k := range keys {
						out = append(out, keyJSON{k.ID, k.Algorithm, purposeName(k.Purpose), string(k.State), k.CreatedAt, k.ActivateAt, k.RetireAt, k.RemoveAt, jsonRaw(k.PublicJWK), len(k.PrivateKey) == 0})
					}
					return printJSON(cmd.OutOrStdout(), out)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "KID\tALG\tPURPOSE\tSTATE\tCREATED\tACTIVATE_AT\tRETIRE_AT\tREMOVE_AT")
				for _, k := range keys {
					state := string(k.State)
					if len(k.PrivateKey) == 0 {
						state = "verify-only"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Algorithm, purposeName(k.Purpose), state,
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
			return manager(cmd, false, func(km *issuer.KeyManager, _ keyward.Store) error {
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

	var (
		importNow, verifyOnly bool
		until, importKID      string
	)
	imp := &cobra.Command{
		Use:   "import FILE",
		Short: "Import a PEM key: as the next signing key, or with --verify-only as a key that only verifies",
		Long: `Import a PEM key into the store.

Without --verify-only, FILE is a private key that becomes the next signing
key: published now, signing after the pre-publication window (at once with
--now), and the active key is retired then.

With --verify-only --until TIME, FILE is a private or a public key of
another signer (the one you migrate from): only its public half is stored
and published in the JWK Set, so that the tokens it already signed keep
verifying. keyward never signs with it, the active key and the rotation
schedule are left alone, and the key leaves the JWK Set at TIME (an RFC 3339
time, or a duration from now such as 1h30m): make that the expiry of the
last token it signed, plus the verifiers' leeway. The key is published
under the kid its tokens carry: --kid, or by default its RFC 7638
thumbprint (the kid "keyward jwks" gives it).

Every import is logged (key_imported, with kid, alg, verify_only and until)
on stderr.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !verifyOnly {
				if until != "" || importKID != "" {
					return cli.Usagef("--until and --kid need --verify-only")
				}
				signer, err := readSigningKey(args[0])
				if err != nil {
					return err
				}
				return manager(cmd, true, func(km *issuer.KeyManager, _ keyward.Store) error {
					kid, err := km.Import(cmd.Context(), signer, importNow)
					if err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "key %s imported\n", kid)
					return nil
				})
			}
			if importNow {
				return cli.Usagef("--now and --verify-only exclude each other: a verify-only key never signs")
			}
			end, err := parseUntil(until, a.now())
			if err != nil {
				return err
			}
			kf.now = a.now // the clock --until was read on
			key, err := readImportKey(args[0])
			if err != nil {
				return err
			}
			return manager(cmd, true, func(km *issuer.KeyManager, _ keyward.Store) error {
				kid, err := km.ImportVerifyOnly(cmd.Context(), key, importKID, end)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "key %s imported verify-only: published until %s, never signs\n", kid, end.UTC().Format(time.RFC3339))
				return nil
			})
		},
	}
	imp.Flags().BoolVar(&importNow, "now", false, "activate the imported key at once")
	imp.Flags().BoolVar(&verifyOnly, "verify-only", false, "publish the key's public half only, to verify the tokens it signed; it never signs (needs --until)")
	imp.Flags().StringVar(&until, "until", "", "with --verify-only: when the key leaves the JWK Set, an RFC 3339 time or a duration from now (1h)")
	imp.Flags().StringVar(&importKID, "kid", "", "with --verify-only: the key ID to publish it under, the kid the old signer wrote in its tokens (default: the key's RFC 7638 thumbprint)")

	retire := &cobra.Command{
		Use:   "retire KID",
		Short: "Retire a key now; it stays published until the tokens it signed have expired",
		Long: `Retire a key now; it stays published until the tokens it signed have expired.
A key ID that starts with "-" (one thumbprint in 64 does) goes after "--", or
it is read as a flag.`,
		Example: "  keyward keys retire -- -kOJjQ5EXPudfVmuvYag14_WKKmSmxJ4j42-DNodLwA",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return manager(cmd, false, func(km *issuer.KeyManager, _ keyward.Store) error {
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

// parseUntil reads --until: an RFC 3339 time, or a positive duration from
// now.
func parseUntil(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, cli.Usagef("--verify-only needs --until: when the key leaves the JWK Set (an RFC 3339 time, or a duration from now)")
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		if !t.After(now) {
			return time.Time{}, cli.Usagef("--until %s is not in the future", s)
		}
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return time.Time{}, cli.Usagef("--until %q: want an RFC 3339 time (2026-01-02T15:04:05Z) or a duration (1h30m)", s)
	}
	if d <= 0 {
		return time.Time{}, cli.Usagef("--until %s: the duration must be positive", s)
	}
	return now.Add(d), nil
}

// readImportKey reads the PEM private or public key of keys import
// --verify-only.
func readImportKey(path string) (any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key, err := jose.ParseKeyPEM(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
