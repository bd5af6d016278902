package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/issuer"
	"github.com/keyward/keyward/jose"
)

// clientJSON is the JSON form of a client; it never shows the secret hash.
type clientJSON struct {
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret,omitempty"`
	Name         string   `json:"name"`
	Public       bool     `json:"public"`
	RedirectURIs []string `json:"redirect_uris"`
	// PostLogoutRedirectURIs are OpenID Connect RP-Initiated Logout's
	// post_logout_redirect_uris.
	PostLogoutRedirectURIs []string  `json:"post_logout_redirect_uris"`
	GrantTypes             []string  `json:"grant_types"`
	Scopes                 []string  `json:"scopes"`
	Audience               string    `json:"audience,omitempty"`
	JWKSURL                string    `json:"jwks_url,omitempty"`
	HasJWKS                bool      `json:"jwks,omitempty"`
	IDTokenAlg             string    `json:"id_token_signed_response_alg,omitempty"`
	CreatedAt              time.Time `json:"created_at"`
	// The client's OpenID Connect Back-Channel Logout 1.0 metadata.
	BackchannelLogoutURI             string `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired bool   `json:"backchannel_logout_session_required"`
	// RequireDPoP is RFC 9449 §5.2's dpop_bound_access_tokens.
	RequireDPoP bool `json:"dpop_bound_access_tokens"`
}

func toClientJSON(c keyward.Client) clientJSON {
	orEmpty := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	return clientJSON{ClientID: c.ID, Name: c.Name, Public: c.Public, RedirectURIs: orEmpty(c.RedirectURIs),
		PostLogoutRedirectURIs: orEmpty(c.PostLogoutRedirectURIs),
		GrantTypes:             orEmpty(c.GrantTypes), Scopes: orEmpty(c.Scopes), Audience: c.Audience,
		JWKSURL: c.JWKSURL, HasJWKS: len(c.JWKS) > 0, IDTokenAlg: c.IDTokenSignedResponseAlg, CreatedAt: c.CreatedAt,
		BackchannelLogoutURI: c.BackchannelLogoutURI, BackchannelLogoutSessionRequired: c.BackchannelLogoutSessionRequired,
		RequireDPoP: c.RequireDPoP}
}

// newClientCmd returns "keyward client", the management of OAuth clients.
func newClientCmd(a *app) *cobra.Command {
	sf := storeFlags{lookupEnv: a.lookupEnv}
	cmd := &cobra.Command{
		Use:   "client",
		Short: "Manage the OAuth 2.0 clients of the issuer",
	}
	cmd.AddCommand(newClientAddCmd(&sf), newClientListCmd(&sf), newClientShowCmd(&sf), newClientDeleteCmd(&sf))
	cmd.AddCommand(newClientSetCmd(&sf))
	cmd.PersistentFlags().StringVar(&sf.data, "data", defaultDataDir, "data directory")
	cmd.PersistentFlags().StringVar(&sf.db, "db", "", "store: sqlite:PATH or postgres://... (default sqlite:<data>/keyward.db)")
	return cmd
}

func newClientAddCmd(sf *storeFlags) *cobra.Command {
	var (
		public       bool
		redirectURIs []string
		logoutURIs   []string
		grants       []string
		scopes       []string
		audience     string
		jwksURL      string
		jwksFile     string
		idTokenAlg   string
		jsonOut      bool
		backchannel  backchannelFlags
		requireDPoP  bool
	)
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Register a client; a confidential client's secret is printed once",
		Long: `Register a client and print its client_id and, for a confidential client,
its secret. The secret is shown only this once and stored as a SHA-256 hash:
it carries 256 random bits, so a slow password hash would add nothing.

A client gets only the grants given with --grant; without it, a client
with a --redirect-uri gets authorization_code and refresh_token, and a
confidential client without one must name its grant (--grant
client_credentials). Redirect URIs are absolute and without a fragment or
wildcard: https; http only to a loopback address such as 127.0.0.1 or [::1],
any port (RFC 8252 §7.3); or, for a --public native app, a private-use
scheme named after a domain in reverse order, such as
com.example.app:/callback (RFC 8252 §7.1). A confidential client
registered with --jwks or --jwks-url gets no secret: it authenticates with
private_key_jwt (RFC 7523), signing with its own private key.

--post-logout-redirect-uri registers where /logout may send the browser
back after signing the user out (post_logout_redirect_uri of OpenID
Connect RP-Initiated Logout), under the same rules as redirect URIs and
matched exactly; a URI not registered is refused, never followed.

ID tokens are signed with serve's --alg unless --id-token-alg says
otherwise (id_token_signed_response_alg of OpenID Connect Dynamic Client
Registration). serve offers RS256 whatever its --alg, so --id-token-alg
RS256 always works; any other value must be serve's --alg.

--require-dpop makes every token request of the client carry a DPoP proof
(RFC 9449; client metadata dpop_bound_access_tokens), so that all its
access tokens are bound to a key it holds; "keyward client set" changes it
later.

` + backchannelHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := keyward.Client{Name: args[0], Public: public, RedirectURIs: redirectURIs, PostLogoutRedirectURIs: logoutURIs,
				Scopes: scopes, Audience: audience, JWKSURL: jwksURL, IDTokenSignedResponseAlg: idTokenAlg,
				RequireDPoP: requireDPoP}
			backchannel.apply(&c)
			if idTokenAlg != "" {
				if alg, err := jose.ParseAlgorithm(idTokenAlg); err != nil || alg.Symmetric() {
					return fmt.Errorf("--id-token-alg %q: want RS256 (always offered) or serve's --alg: RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512 or EdDSA", idTokenAlg)
				}
			}
			if len(grants) == 0 {
				if !public && len(redirectURIs) == 0 {
					return errors.New("give --grant client_credentials for a client acting on its own behalf, or --redirect-uri for the authorization code flow")
				}
				grants = []string{issuer.GrantAuthorizationCode, issuer.GrantRefreshToken}
			}
			c.GrantTypes = grants
			if err := issuer.ValidateClient(c); err != nil {
				return err
			}
			if jwksURL != "" && jwksFile != "" {
				return errors.New("give --jwks-url or --jwks, not both")
			}
			if jwksURL != "" {
				if p, err := url.Parse(jwksURL); err != nil || p.Scheme != "https" || p.Host == "" {
					return fmt.Errorf("--jwks-url %q: want an https URL", jwksURL)
				}
			}
			if jwksFile != "" {
				b, err := os.ReadFile(jwksFile)
				if err != nil {
					return fmt.Errorf("--jwks: %w", err)
				}
				if _, err := jose.ParseJWKS(b); err != nil {
					return fmt.Errorf("--jwks %s: %w", jwksFile, err)
				}
				c.JWKS = b
			}
			id, err := issuer.NewID(nil)
			if err != nil {
				return err
			}
			c.ID = id
			secret := ""
			// A client with keys authenticates with private_key_jwt only.
			if !public && c.JWKSURL == "" && c.JWKS == nil {
				if secret, c.SecretHash, err = issuer.NewClientSecret(nil); err != nil {
					return err
				}
			}
			return withStore(cmd.Context(), sf, func(store keyward.Store) error {
				if err := store.CreateClient(cmd.Context(), c); err != nil {
					return err
				}
				c, err := store.GetClient(cmd.Context(), c.ID)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if jsonOut {
					j := toClientJSON(c)
					j.ClientSecret = secret
					return printJSON(out, j)
				}
				fmt.Fprintf(out, "client_id:     %s\n", c.ID)
				if secret != "" {
					fmt.Fprintf(out, "client_secret: %s\n(shown only now: store it safely)\n", secret)
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.BoolVar(&public, "public", false, "public client (no secret; browser and native apps)")
	f.StringArrayVar(&redirectURIs, "redirect-uri", nil, "allowed redirect URI, matched exactly (repeatable)")
	f.StringArrayVar(&logoutURIs, "post-logout-redirect-uri", nil, "allowed post-logout redirect URI of /logout, matched exactly (repeatable)")
	f.StringArrayVar(&grants, "grant", nil, "allowed grant type: "+strings.Join(issuer.Grants(), ", ")+" (repeatable)")
	f.StringArrayVar(&scopes, "scope", nil, "scope the client may request (repeatable)")
	f.StringVar(&audience, "audience", "", "aud of the client's access tokens (default: serve's --audience)")
	f.StringVar(&jwksURL, "jwks-url", "", "https URL of the client's JWK Set, for private_key_jwt")
	f.StringVar(&jwksFile, "jwks", "", "file holding the client's public JWK Set, for private_key_jwt")
	f.StringVar(&idTokenAlg, "id-token-alg", "", "algorithm of the client's ID tokens: RS256, or serve's --alg (default: serve's --alg)")
	f.BoolVar(&requireDPoP, "require-dpop", false, "refuse the client's token requests without a DPoP proof (dpop_bound_access_tokens)")
	f.BoolVar(&jsonOut, "json", false, `print JSON ({"client_id":...,"client_secret":...})`)
	backchannel.register(f)
	return cmd
}

func newClientListCmd(sf *storeFlags) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the clients",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd.Context(), sf, func(store keyward.Store) error {
				clients, err := store.ListClients(cmd.Context())
				if err != nil {
					return err
				}
				if jsonOut {
					out := make([]clientJSON, 0, len(clients))
					for _, c := range clients {
						out = append(out, toClientJSON(c))
					}
					return printJSON(cmd.OutOrStdout(), out)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "CLIENT_ID\tNAME\tTYPE\tGRANTS\tSCOPES\tAUDIENCE")
				for _, c := range clients {
					kind := "confidential"
					if c.Public {
						kind = "public"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, kind, strings.Join(c.GrantTypes, ","), strings.Join(c.Scopes, ","), c.Audience)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

func getClient(ctx context.Context, store keyward.ClientStore, id string) (keyward.Client, error) {
	c, err := store.GetClient(ctx, id)
	if errors.Is(err, keyward.ErrNotFound) {
		return c, fmt.Errorf("no client %q (see \"keyward client list\")", id)
	}
	return c, err
}

func newClientShowCmd(sf *storeFlags) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "show CLIENT_ID",
		Short: "Show a client",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd.Context(), sf, func(store keyward.Store) error {
				c, err := getClient(cmd.Context(), store, args[0])
				if err != nil {
					return err
				}
				if jsonOut {
					return printJSON(cmd.OutOrStdout(), toClientJSON(c))
				}
				kind := "confidential"
				if c.Public {
					kind = "public"
				}
				idAlg := c.IDTokenSignedResponseAlg
				if idAlg == "" {
					idAlg = "(serve's --alg)"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "client_id:     %s\nname:          %s\ntype:          %s\ngrants:        %s\nscopes:        %s\naudience:      %s\nredirect_uris: %s\npost_logout:   %s\nid_token_alg:  %s\nbackchannel:   %s\nrequire_dpop:  %t\ncreated:       %s\n",
					c.ID, c.Name, kind, strings.Join(c.GrantTypes, " "), strings.Join(c.Scopes, " "), c.Audience,
					strings.Join(c.RedirectURIs, " "), strings.Join(c.PostLogoutRedirectURIs, " "), idAlg, backchannelShow(c), c.RequireDPoP, c.CreatedAt.Format(time.RFC3339))
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

func newClientDeleteCmd(sf *storeFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete CLIENT_ID",
		Short: "Delete a client with its refresh tokens",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd.Context(), sf, func(store keyward.Store) error {
				if _, err := getClient(cmd.Context(), store, args[0]); err != nil {
					return err
				}
				if err := store.DeleteClient(cmd.Context(), args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "client %s deleted\n", args[0])
				return nil
			})
		},
	}
}
