// Command service-to-service shows one service calling another with an
// access token it obtained itself: the OAuth 2.0 client_credentials grant
// (RFC 6749 §4.4) against `keyward serve`'s token endpoint, with
// golang.org/x/oauth2/clientcredentials caching the token and fetching a
// new one shortly before it expires.
//
// Register the calling service once, on the issuer's store:
//
//	keyward client add reports --grant client_credentials --scope read:messages --audience api --json
//
// then run it with the client ID and secret that printed:
//
//	TOKEN_URL=http://localhost:4000/token CLIENT_ID=... CLIENT_SECRET=... \
//	  API_URL=http://127.0.0.1:3000/protected go run ./service-to-service    # in examples/, a module of its own
//
// Environment: TOKEN_URL, CLIENT_ID, CLIENT_SECRET and API_URL (required),
// SCOPE (space-separated, optional). It calls API_URL once, prints the
// status and body, and exits 1 unless the status is 200.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Config says where the token comes from and what to call with it.
type Config struct {
	TokenURL     string
	ClientID     string
	ClientSecret string
	Scopes       []string
	// Base is the HTTP client under the token-adding transport; it also
	// fetches tokens. Nil means a client with a 10-second timeout.
	Base *http.Client
}

// NewClient returns an HTTP client that adds "Authorization: Bearer" with a
// client_credentials access token to every request, fetching the token on
// first use and again shortly before it expires.
func NewClient(ctx context.Context, cfg Config) *http.Client {
	base := cfg.Base
	if base == nil {
		base = &http.Client{Timeout: 10 * time.Second}
	}
	cc := &clientcredentials.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		TokenURL:     cfg.TokenURL,
		Scopes:       cfg.Scopes,
		AuthStyle:    oauth2.AuthStyleInHeader, // HTTP Basic, RFC 6749 §2.3.1
	}
	// oauth2 takes the client for token requests from the context.
	ctx = context.WithValue(ctx, oauth2.HTTPClient, base)
	return &http.Client{
		Timeout:   base.Timeout,
		Transport: &oauth2.Transport{Source: cc.TokenSource(ctx), Base: base.Transport},
	}
}

// Call sends GET url with the client and returns the status and body.
func Call(ctx context.Context, client *http.Client, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(body), err
}

func run(ctx context.Context) error {
	cfg := Config{
		TokenURL:     os.Getenv("TOKEN_URL"),
		ClientID:     os.Getenv("CLIENT_ID"),
		ClientSecret: os.Getenv("CLIENT_SECRET"),
		Scopes:       strings.Fields(os.Getenv("SCOPE")),
	}
	api := os.Getenv("API_URL")
	for name, v := range map[string]string{"TOKEN_URL": cfg.TokenURL, "CLIENT_ID": cfg.ClientID, "CLIENT_SECRET": cfg.ClientSecret, "API_URL": api} {
		if v == "" {
			return fmt.Errorf("%s is not set", name)
		}
	}
	status, body, err := Call(ctx, NewClient(ctx, cfg), api)
	if err != nil {
		return err
	}
	fmt.Printf("%d %s\n", status, strings.TrimSpace(body))
	if status != http.StatusOK {
		return errors.New("the call was refused")
	}
	return nil
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "service-to-service:", err)
		os.Exit(1)
	}
}
