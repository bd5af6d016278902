package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
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
	CreatedAt  time.Time      `json:"created_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
}

func toUserJSON(u keyward.User) userJSON {
	j := userJSON{ID: u.ID, Username: u.Username, Roles: u.Roles, Attributes: u.Attributes,
		Disabled: u.Disabled, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
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
		newUserPasswdCmd(&sf), newUserDeleteCmd(&sf))
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
	)
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Add a user; without --password-stdin a random password is made and printed once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			attributes := make(map[string]any, len(attrs))
			for _, a := range attrs {
				k, v, ok := strings.Cut(a, "=")
				if !ok || k == "" {
					return fmt.Errorf("--attr %q: want key=value", a)
				}
				attributes[k] = v
			}
			password, generated, err := choosePassword(cmd.InOrStdin(), stdinPass)
			if err != nil {
				return err
			}
			return withStore(cmd.Context(), sf, func(store keyward.Store) error {
				u, err := issuer.NewUser(cmd.Context(), store, args[0], password, roles, attributes, issuer.PasswordParams{}, nil)
				if errors.Is(err, keyward.ErrConflict) {
					return fmt.Errorf("user %q exists; change it with \"keyward user passwd\" or delete it first", args[0])
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

// getUser finds a user by username, or by ID.
func getUser(ctx context.Context, store keyward.UserStore, name string) (keyward.User, error) {
	u, err := store.GetUserByName(ctx, name)
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
					now := time.Now()
					if err := store.RevokeUserRefreshTokens(ctx, u.ID, now); err != nil {
						return err
					}
					// Access tokens already issued: the revocation feed tells
					// the verifiers that poll it.
					if err := store.RevokeUser(ctx, keyward.UserRevocation{UserID: u.ID, Before: now}); err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "user %s disabled; refresh tokens revoked, access tokens listed in /revocations\n", u.Username)
					return nil
				}
				fmt.Fprintf(cmd.OutOrStdout(), "user %s enabled\n", u.Username)
				return nil
			})
		},
	}
}

// choosePassword reads the password from stdin when fromStdin is set, and
// otherwise makes a random one; generated says which, so that the caller
// prints a generated password once.
func choosePassword(stdin io.Reader, fromStdin bool) (password string, generated bool, err error) {
	if fromStdin {
		p, err := readPassword(stdin)
		return p, false, err
	}
	p, err := issuer.NewPassword(nil)
	return p, true, err
}

func newUserPasswdCmd(sf *storeFlags) *cobra.Command {
	var stdinPass bool
	cmd := &cobra.Command{
		Use:   "passwd NAME",
		Short: "Set a user's password; without --password-stdin a random one is made and printed once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			password, generated, err := choosePassword(cmd.InOrStdin(), stdinPass)
			if err != nil {
				return err
			}
			hash, err := issuer.HashPassword(issuer.PasswordParams{}, password, nil)
			if err != nil {
				return err
			}
			return withStore(ctx, sf, func(store keyward.Store) error {
				u, err := getUser(ctx, store, args[0])
				if err != nil {
					return err
				}
				if err := store.UpdateUser(ctx, u.ID, func(u *keyward.User) error { u.PasswordHash = hash; return nil }); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "password of %s changed\n", u.Username)
				if generated {
					fmt.Fprintf(cmd.OutOrStdout(), "password: %s\n", password)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&stdinPass, "password-stdin", false, "read the password from the first line of stdin")
	return cmd
}

func newUserDeleteCmd(sf *storeFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a user with the user's refresh tokens",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return withStore(ctx, sf, func(store keyward.Store) error {
				u, err := getUser(ctx, store, args[0])
				if err != nil {
					return err
				}
				if err := store.DeleteUser(ctx, u.ID); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "user %s deleted\n", u.Username)
				return nil
			})
		},
	}
}
