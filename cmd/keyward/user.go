package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/cli"
	"github.com/keyward/keyward/issuer"
)

// withStore opens the store of f, runs fn and closes the store.
func withStore(ctx context.Context, f *storeFlags, fn func(keyward.Store) error) error {
	if ctx == nil {
		ctx = context.Background()
	}
	store, err := f.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	return fn(store)
}

// readPassword reads one line from r, without its line ending.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, issuer.MaxPasswordLen+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("--password-stdin: empty password on stdin")
	}
	if len(pw) > issuer.MaxPasswordLen {
		return "", fmt.Errorf("--password-stdin: password longer than %d bytes", issuer.MaxPasswordLen)
	}
	return pw, nil
}

// userJSON is the JSON form of a user; it never shows the password hash.
type userJSON struct {
	ID         string         `json:"id"`
	Username   string         `json:"username"`
	Roles      []string       `json:"roles"`
	Attributes map[string]any `json:"attributes"`
	Disabled   bool           `json:"disabled"`
	RequireMFA bool           `json:"require_mfa"`
	CreatedAt  time.Time      `json:"created_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
}

func toUserJSON(u keyward.User) userJSON {
	j := userJSON{ID: u.ID, Username: u.Username, Roles: u.Roles, Attributes: u.Attributes,
		Disabled: u.Disabled, RequireMFA: u.RequireMFA, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
	if j.Roles == nil {
		j.Roles = []string{}
	}
	if j.Attributes == nil {
		j.Attributes = map[string]any{}
	}
	return j
}

func printJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v, json.Deterministic(true))
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// newUserCmd returns "keyward user", the management of login accounts.
func newUserCmd(a *app) *cobra.Command {
	sf := storeFlags{lookupEnv: a.lookupEnv}
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage the users who log in to the issuer",
	}
	cmd.AddCommand(newUserAddCmd(&sf), newUserListCmd(&sf), newUserShowCmd(&sf),
		newUserSetDisabledCmd(&sf, true), newUserSetDisabledCmd(&sf, false),
		newUserSetCmd(&sf), newUserPasswdCmd(&sf), newUserDeleteCmd(&sf), newUserMFACmd(&sf))
	cmd.PersistentFlags().StringVar(&sf.data, "data", defaultDataDir, "data directory")
	cmd.PersistentFlags().StringVar(&sf.db, "db", "", "store: sqlite:PATH or postgres://... (default sqlite:<data>/keyward.db)")
	return cmd
}

func newUserAddCmd(sf *storeFlags) *cobra.Command {
	var (
		roles     []string
		attrs     []string
		stdinPass bool
		jsonOut   bool
		policy    issuer.PasswordPolicy
	)
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Add a user; without --password-stdin a random password is made and printed once",
		Long: `Add a user; without --password-stdin a random password is made and
printed once.

` + userNameHelp + `

` + passwordPolicyHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validatePolicy(policy); err != nil {
				return err
			}
			name, err := issuer.NormalizeUsername(args[0])
			if err != nil {
				return fmt.Errorf("username %q: %w", args[0], err)
			}
			attributes, err := parseAttrs(attrs)
			if err != nil {
				return err
			}
			password, generated, err := choosePassword(cmd.InOrStdin(), stdinPass, policy)
			if err != nil {
				return err
			}
			return withStore(cmd.Context(), sf, func(store keyward.Store) error {
				u, err := issuer.NewUser(cmd.Context(), store, name, password, roles, attributes, issuer.PasswordParams{}, nil)
				if errors.Is(err, keyward.ErrConflict) {
					return fmt.Errorf("user %q exists; change it with \"keyward user passwd\" or delete it first", name)
				}
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if jsonOut {
					v := struct {
						userJSON
						Password string `json:"password,omitempty"`
					}{userJSON: toUserJSON(u)}
					if generated {
						v.Password = password
					}
					return printJSON(out, v)
				}
				fmt.Fprintf(out, "user %s created (id %s)\n", u.Username, u.ID)
				if generated {
					fmt.Fprintf(out, "password: %s\n", password)
				}
				return nil
			})
		},
	}
	passwordPolicyFlag(cmd.Flags(), &policy)
	cmd.Flags().StringArrayVar(&roles, "role", nil, "role put in the roles claim (repeatable)")
	cmd.Flags().StringArrayVar(&attrs, "attr", nil, "attribute k=v put in the tokens as a claim, e.g. email=a@example.com (repeatable)")
	cmd.Flags().BoolVar(&stdinPass, "password-stdin", false, "read the password from the first line of stdin")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

func newUserListCmd(sf *storeFlags) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the users",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd.Context(), sf, func(store keyward.Store) error {
				users, err := store.ListUsers(cmd.Context())
				if err != nil {
					return err
				}
				if jsonOut {
					out := make([]userJSON, 0, len(users))
					for _, u := range users {
						out = append(out, toUserJSON(u))
					}
					return printJSON(cmd.OutOrStdout(), out)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "USERNAME\tID\tROLES\tDISABLED\tCREATED")
				for _, u := range users {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\n", u.Username, u.ID, strings.Join(u.Roles, ","), u.Disabled, u.CreatedAt.Format(time.RFC3339))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

func newUserShowCmd(sf *storeFlags) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a user",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd.Context(), sf, func(store keyward.Store) error {
				u, err := getUser(cmd.Context(), store, args[0])
				if err != nil {
					return err
				}
				if jsonOut {
					return printJSON(cmd.OutOrStdout(), toUserJSON(u))
				}
				out := cmd.OutOrStdout()
				fmt.Fprintf(out, "username:   %s\nid:         %s\nroles:      %s\ndisabled:   %v\ncreated:    %s\nupdated:    %s\n",
					u.Username, u.ID, strings.Join(u.Roles, ","), u.Disabled, u.CreatedAt.Format(time.RFC3339), u.UpdatedAt.Format(time.RFC3339))
				if len(u.Attributes) > 0 {
					b, _ := json.Marshal(u.Attributes, json.Deterministic(true))
					fmt.Fprintf(out, "attributes: %s\n", b)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

// getUser finds a user by username, in any form that normalises to the
// stored name (see issuer.LookupUser), or by ID.
func getUser(ctx context.Context, store keyward.UserStore, name string) (keyward.User, error) {
	u, err := issuer.LookupUser(ctx, store, name)
	if errors.Is(err, keyward.ErrNotFound) {
		u, err = store.GetUser(ctx, name)
	}
	if errors.Is(err, keyward.ErrNotFound) {
		return u, fmt.Errorf("no user %q (see \"keyward user list\")", name)
	}
	return u, err
}

func newUserSetDisabledCmd(sf *storeFlags, disable bool) *cobra.Command {
	use, short := "enable NAME", "Let a disabled user log in again"
	if disable {
		use, short = "disable NAME", "Stop a user from logging in and revoke the user's tokens"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return withStore(ctx, sf, func(store keyward.Store) error {
				u, err := getUser(ctx, store, args[0])
				if err != nil {
					return err
				}
				if err := store.UpdateUser(ctx, u.ID, func(u *keyward.User) error {
					if u.Disabled == disable {
						return keyward.ErrNoChange
					}
					u.Disabled = disable
					return nil
				}); err != nil {
					return err
				}
				if disable {
					if err := endUserAccess(cmd, store, u.ID); err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "user %s disabled; %s\n", u.Username, endedAccess)
					return nil
				}
				fmt.Fprintf(cmd.OutOrStdout(), "user %s enabled\n", u.Username)
				return nil
			})
		},
	}
}

// parseAttrs parses --attr key=value flags.
func parseAttrs(attrs []string) (map[string]any, error) {
	attributes := make(map[string]any, len(attrs))
	for _, a := range attrs {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, cli.Usagef("--attr %q: want key=value", a)
		}
		attributes[k] = v
	}
	return attributes, nil
}

// newUserSetCmd is "keyward user set": edits a user in place.
func newUserSetCmd(sf *storeFlags) *cobra.Command {
	var (
		roles, attrs, unset []string
		noRoles             bool
		enable, disable     bool
		jsonOut             bool
		requireMFA, noMFA   bool
	)
	cmd := &cobra.Command{
		Use:   "set NAME",
		Short: "Change a user's roles or attributes, or enable or disable the user",
		Long: `Change a user in place; what no flag names stays as it is.

--role replaces the user's roles (repeat it for several; --no-roles clears
them); --attr key=value sets an attribute, --unset-attr key removes one.
--disable does what "user disable" does (sessions ended, tokens revoked);
--enable lets the user log in again. --require-mfa makes the user sign in
with a second factor (enrolling TOTP at the next sign-in if the user has
none); --no-require-mfa leaves it to "serve --require-mfa" and to the
factors the user holds. Tokens already issued keep the roles they were
issued with until they expire; new tokens carry the new ones. Likewise
--require-mfa applies at the next sign-in: sessions and refresh tokens
from before stay valid (disable, then enable, the user to end them).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			f := cmd.Flags()
			if enable && disable {
				return cli.Usagef("--enable and --disable exclude each other")
			}
			if noRoles && f.Changed("role") {
				return cli.Usagef("--role and --no-roles exclude each other")
			}
			if requireMFA && noMFA {
				return cli.Usagef("--require-mfa and --no-require-mfa exclude each other")
			}
			if !f.Changed("role") && !noRoles && len(attrs) == 0 && len(unset) == 0 && !enable && !disable && !requireMFA && !noMFA {
				return cli.Usagef("nothing to change: give --role, --no-roles, --attr, --unset-attr, --enable, --disable, --require-mfa or --no-require-mfa")
			}
			set, err := parseAttrs(attrs)
			if err != nil {
				return err
			}
			for _, k := range unset {
				if _, both := set[k]; both {
					return cli.Usagef("--attr and --unset-attr both name %q", k)
				}
			}
			return withStore(ctx, sf, func(store keyward.Store) error {
				u, err := getUser(ctx, store, args[0])
				if err != nil {
					return err
				}
				wasDisabled := u.Disabled
				err = store.UpdateUser(ctx, u.ID, func(u *keyward.User) error {
					switch {
					case noRoles:
						u.Roles = nil
					case f.Changed("role"):
						u.Roles = slices.Compact(slices.Sorted(slices.Values(roles)))
					}
					if len(set) > 0 || len(unset) > 0 {
						a := maps.Clone(u.Attributes)
						if a == nil {
							a = make(map[string]any, len(set))
						}
						maps.Copy(a, set)
						for _, k := range unset {
							delete(a, k)
						}
						u.Attributes = a
					}
					if enable || disable {
						u.Disabled = disable
					}
					if requireMFA || noMFA {
						u.RequireMFA = requireMFA
					}
					return nil
				})
				if err != nil {
					return err
				}
				if disable && !wasDisabled {
					if err := endUserAccess(cmd, store, u.ID); err != nil {
						return err
					}
				}
				u, err = store.GetUser(ctx, u.ID)
				if err != nil {
					return err
				}
				if jsonOut {
					return printJSON(cmd.OutOrStdout(), toUserJSON(u))
				}
				state := "enabled"
				if u.Disabled {
					state = "disabled"
				}
				if u.RequireMFA {
					state += ", second factor required"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "user %s updated: roles [%s], %d attributes, %s\n",
					u.Username, strings.Join(u.Roles, ","), len(u.Attributes), state)
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&roles, "role", nil, "replace the roles with these (repeatable)")
	fl.BoolVar(&noRoles, "no-roles", false, "remove every role")
	fl.StringArrayVar(&attrs, "attr", nil, "set an attribute, key=value (repeatable)")
	fl.StringArrayVar(&unset, "unset-attr", nil, "remove an attribute (repeatable)")
	fl.BoolVar(&enable, "enable", false, "let the user log in again")
	fl.BoolVar(&disable, "disable", false, "stop the user from logging in; ends sessions and revokes tokens")
	fl.BoolVar(&requireMFA, "require-mfa", false, "make the user sign in with a second factor")
	fl.BoolVar(&noMFA, "no-require-mfa", false, "stop requiring a second factor of this user (serve --require-mfa still applies)")
	fl.BoolVar(&jsonOut, "json", false, "print the updated user as JSON")
	return cmd
}

// choosePassword reads the password from stdin when fromStdin is set and
// checks it against policy, and otherwise makes a random one, long enough
// for the policy; generated says which, so that the caller prints a
// generated password once.
func choosePassword(stdin io.Reader, fromStdin bool, policy issuer.PasswordPolicy) (password string, generated bool, err error) {
	if fromStdin {
		p, err := readPassword(stdin)
		if err != nil {
			return "", false, err
		}
		if err := policy.Check(p); err != nil {
			return "", false, fmt.Errorf("--password-stdin: %w", err)
		}
		return p, false, nil
	}
	var p string
	for len(p) < policy.MinLength {
		more, err := issuer.NewPassword(nil)
		if err != nil {
			return "", false, err
		}
		p += more
	}
	if p == "" {
		if p, err = issuer.NewPassword(nil); err != nil {
			return "", false, err
		}
	}
	return p[:min(len(p), issuer.MaxPasswordLength)], true, nil
}

// userNameHelp and passwordPolicyHelp are the rules of names and passwords
// told in --help.
const (
	userNameHelp = `A name is stored in its PRECIS form (RFC 8265, UsernameCaseMapped):
surrounding spaces removed, full-width letters made ASCII, upper case made
lower case, so "Alice", " alice" and "ａｌｉｃｅ" all name the user alice. Names
with a control character or an inner space are refused. Every command and
the login find a user by any form of its name.`
	passwordPolicyHelp = `A password given with --password-stdin must have --min-password-length
characters (Unicode code points, default 12) and at most 128, must not be
one character repeated nor one of the common passwords found in breaches
that keyward embeds; no mix of character classes is required (NIST SP
800-63B). Generated passwords hold 128 random bits.`
)

// passwordPolicyFlag adds --min-password-length, read into p.
func passwordPolicyFlag(fs *pflag.FlagSet, p *issuer.PasswordPolicy) {
	fs.IntVar(&p.MinLength, "min-password-length", issuer.DefaultMinPasswordLength,
		fmt.Sprintf("fewest characters (Unicode code points) of a password a person chooses, %d to %d", issuer.LowestMinPasswordLength, issuer.MaxPasswordLength))
}

// validatePolicy turns a policy out of bounds into a usage error.
func validatePolicy(p issuer.PasswordPolicy) error {
	if err := p.Validate(); err != nil {
		return cli.Usagef("--min-password-length %d: must be %d to %d", p.MinLength, issuer.LowestMinPasswordLength, issuer.MaxPasswordLength)
	}
	return nil
}

// normalizeUsernames runs [issuer.NormalizeStoredUsernames] and logs what it
// did: username_normalized for each user renamed to the normalised form of
// its name, and the warning username_not_normalized for each name left as
// stored (no normalised form, or a clash with another user's name, which an
// operator resolves with "keyward user delete" or by recreating an account).
// serve calls it at start-up.
func normalizeUsernames(ctx context.Context, store keyward.UserStore, logger *slog.Logger) error {
	m, err := issuer.NormalizeStoredUsernames(ctx, store)
	if err != nil {
		return err
	}
	for _, r := range m.Renamed {
		logger.InfoContext(ctx, "username_normalized", slog.String("user_id", r.UserID),
			slog.String("from", r.From), slog.String("to", r.To))
	}
	for _, p := range m.Problems {
		logger.WarnContext(ctx, "username_not_normalized", slog.String("user_id", p.UserID),
			slog.String("username", p.Username), slog.String("normalized", p.Normalized), slog.String("error", p.Err.Error()))
	}
	return nil
}

// endedAccess says what [issuer.EndUserAccess] did, for the commands that
// call it.
const endedAccess = "sessions ended, refresh tokens revoked, access tokens listed in /revocations"

func newUserPasswdCmd(sf *storeFlags) *cobra.Command {
	var (
		stdinPass, keepSessions bool
		policy                  issuer.PasswordPolicy
	)
	cmd := &cobra.Command{
		Use:   "passwd NAME",
		Short: "Set a user's password; without --password-stdin a random one is made and printed once",
		Long: `Set a user's password. Without --password-stdin a random one is made and
printed once.

The change ends the user's sessions, revokes the user's refresh tokens and
lists the user's access tokens issued so far in /revocations, as "user
disable" does: whoever knew the old password is logged out everywhere. With
--keep-sessions the sessions and tokens stay valid (for a user changing a
password that was never compromised).

` + passwordPolicyHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := validatePolicy(policy); err != nil {
				return err
			}
			password, generated, err := choosePassword(cmd.InOrStdin(), stdinPass, policy)
			if err != nil {
				return err
			}
			return withStore(ctx, sf, func(store keyward.Store) error {
				u, err := getUser(ctx, store, args[0])
				if err != nil {
					return err
				}
				if err := issuer.SetPassword(ctx, store, u.ID, password, policy, issuer.PasswordParams{}, nil); err != nil {
					return err
				}
				if keepSessions {
					fmt.Fprintf(cmd.OutOrStdout(), "password of %s changed; sessions and tokens kept\n", u.Username)
				} else {
					if err := endUserAccess(cmd, store, u.ID); err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "password of %s changed; %s\n", u.Username, endedAccess)
				}
				if generated {
					fmt.Fprintf(cmd.OutOrStdout(), "password: %s\n", password)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&stdinPass, "password-stdin", false, "read the password from the first line of stdin")
	cmd.Flags().BoolVar(&keepSessions, "keep-sessions", false, "keep the user's sessions, refresh tokens and access tokens valid")
	passwordPolicyFlag(cmd.Flags(), &policy)
	return cmd
}

func newUserDeleteCmd(sf *storeFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a user, ending the user's sessions and revoking the user's tokens",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return withStore(ctx, sf, func(store keyward.Store) error {
				u, err := getUser(ctx, store, args[0])
				if err != nil {
					return err
				}
				// The cutoff goes first: it outlives the user, so that
				// verifiers refuse the access tokens already issued.
				if err := endUserAccess(cmd, store, u.ID); err != nil {
					return err
				}
				if err := store.DeleteUser(ctx, u.ID); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "user %s deleted; %s\n", u.Username, endedAccess)
				return nil
			})
		},
	}
}
