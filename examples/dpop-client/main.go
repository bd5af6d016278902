// Command dpop-client shows a service calling another with a DPoP-bound
// access token (RFC 9449): the token is bound to a key pair the caller
// holds, and every request carries a fresh proof signed with it, so a
// token copied from a log or a proxy is worth nothing without the key.
//
// It obtains the token with the client_credentials grant from the token
// endpoint of `keyward serve` (or any issuer that supports DPoP), sending
// a proof with the token request, then calls the API, a service behind
// `keyward gate --dpop required` for example. dpop.Transport makes the
// proofs and answers the servers' nonce requests (use_dpop_nonce).
//
//	TOKEN_URL=http://localhost:4000/token CLIENT_ID=... CLIENT_SECRET=... \
//	  API_URL=http://127.0.0.1:3000/protected go run ./dpop-client    # in examples/, a module of its own
//
// Environment: TOKEN_URL, CLIENT_ID, CLIENT_SECRET and API_URL (required);
// SCOPE (space-separated, optional); DPOP_KEY, a PEM file holding the
// private key of the proofs (optional: without it, a new P-256 key for
// this run). It calls API_URL once, prints the status and body, and exits
// 1 unless the status is 200.
package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/keyward/keyward/dpop"
	"github.com/keyward/keyward/jose"
)

// Config says where the token comes from.
type Config struct {
	TokenURL     string
	ClientID     string
	ClientSecret string
	Scopes       []string
}

// FetchToken asks the token endpoint for an access token bound to the
// signer's key (client_credentials, client authentication with HTTP Basic,
// RFC 6749 §2.3.1) and returns it. An answer whose token_type is not DPoP
// is an error: a Bearer token would not be bound to the key.
func FetchToken(ctx context.Context, base *http.Client, signer *dpop.ProofSigner, cfg Config) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(cfg.Scopes) > 0 {
		form.Set("scope", strings.Join(cfg.Scopes, " "))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(cfg.ClientID), url.QueryEscape(cfg.ClientSecret))
	client := &http.Client{Timeout: base.Timeout, Transport: &dpop.Transport{Signer: signer, Base: base.Transport}}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		Error       string `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tok); err != nil {
		return "", fmt.Errorf("token endpoint: %d: %w", resp.StatusCode, err)
	}
	switch {
	case resp.StatusCode != http.StatusOK:
		return "", fmt.Errorf("token endpoint: %d %s", resp.StatusCode, tok.Error)
	case !strings.EqualFold(tok.TokenType, dpop.Scheme):
		return "", fmt.Errorf("token endpoint: token_type %q, want DPoP", tok.TokenType)
	case tok.AccessToken == "":
		return "", errors.New("token endpoint: no access_token")
	}
	return tok.AccessToken, nil
}

// NewClient returns an HTTP client that sends every request with
// `Authorization: DPoP <token>` and a fresh proof by signer.
func NewClient(base *http.Client, signer *dpop.ProofSigner, token string) *http.Client {
	return &http.Client{Timeout: base.Timeout, Transport: &dpop.Transport{
		Signer: signer,
		Token:  func(context.Context) (string, error) { return token, nil },
		Base:   base.Transport,
	}}
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

// proofKey reads the key of DPOP_KEY, or makes a P-256 key.
func proofKey(path string) (crypto.Signer, error) {
	if path == "" {
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := jose.ParseKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("DPOP_KEY: %w", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("DPOP_KEY holds no private key")
	}
	return s, nil
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
	key, err := proofKey(os.Getenv("DPOP_KEY"))
	if err != nil {
		return err
	}
	signer, err := dpop.NewProofSigner(key, "", nil, nil)
	if err != nil {
		return err
	}
	base := &http.Client{Timeout: 10 * time.Second}
	token, err := FetchToken(ctx, base, signer, cfg)
	if err != nil {
		return err
	}
	status, body, err := Call(ctx, NewClient(base, signer, token), api)
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
		fmt.Fprintln(os.Stderr, "dpop-client:", err)
		os.Exit(1)
	}
}
