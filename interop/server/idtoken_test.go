package server_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/issuer"
	"github.com/keyward/keyward/jose"
)

// codeFlow runs the code flow with PKCE for cfg through golang.org/x/oauth2:
// the browser hc logs alice in when it holds no session, and the code is
// exchanged at the token endpoint.
func codeFlow(tb testing.TB, ctx context.Context, st *stack, hc *http.Client, cfg oauth2.Config, state string) *oauth2.Token {
	tb.Helper()
	verifier := oauth2.GenerateVerifier()
	resp, page := get(tb, hc, cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce("nonce-"+state)))
	if resp.StatusCode == http.StatusOK {
		f := loginForm(tb, page)
		f.Set("username", "alice")
		f.Set("password", "correct horse battery staple")
		resp, page = postLogin(tb, hc, st, f)
	}
	tok, err := cfg.Exchange(ctx, codeFrom(tb, st, resp, page, state), oauth2.VerifierOption(verifier))
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// TestIDTokenAlgorithms runs an issuer configured with ES256, then EdDSA,
// through go-oidc: discovery lists RS256 and the configured algorithm, the
// JWKS holds a key of each, a client registered with
// id_token_signed_response_alg RS256 gets RS256 ID tokens that an
// oidc.IDTokenVerifier limited to RS256 accepts, the default client gets ID
// tokens of the configured algorithm, and after a rotation of both keys the
// provider's cached key set picks the new keys up.
func TestIDTokenAlgorithms(t *testing.T) {
	t.Parallel()
	for _, alg := range []jose.Algorithm{jose.ES256, jose.EdDSA} {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			st := newStack(t, alg)
			st.addUser(t, "alice", "correct horse battery staple")
			grants := []string{issuer.GrantAuthorizationCode, issuer.GrantRefreshToken}
			st.addClient(t, keyward.Client{ID: "rp-rs256", Public: true, RedirectURIs: []string{callback}, GrantTypes: grants,
				IDTokenSignedResponseAlg: "RS256"})
			st.addClient(t, keyward.Client{ID: "rp-default", Public: true, RedirectURIs: []string{callback}, GrantTypes: grants})
			ctx := clientContext(t, st)
			provider, err := oidc.NewProvider(ctx, st.srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			var md struct {
				IDTokenAlgs []string `json:"id_token_signing_alg_values_supported"`
			}
			if err := provider.Claims(&md); err != nil || !slices.Equal(md.IDTokenAlgs, []string{"RS256", string(alg)}) {
				t.Fatalf("id_token_signing_alg_values_supported %v (%v), want [RS256 %s]", md.IDTokenAlgs, err, alg)
			}
			_, b := st.do(t, http.MethodGet, "/.well-known/jwks.json", "", nil)
			set, err := jose.ParseJWKS(b)
			if err != nil {
				t.Fatal(err)
			}
			var published []jose.Algorithm
			for _, k := range set.Keys {
				if k.Use != "sig" || k.KeyID == "" {
					t.Errorf("published key %s: use %q", k.KeyID, k.Use)
				}
				published = append(published, k.Algorithm)
			}
			if slices.Sort(published); !slices.Equal(published, sorted(jose.RS256, alg)) {
				t.Fatalf("JWKS algorithms %v, want RS256 and %s", published, alg)
			}

			hc := browser(t, st)
			flows := []struct {
				client string
				want   jose.Algorithm
			}{
				{"rp-rs256", jose.RS256},
				{"rp-default", alg},
			}
			run := func(round string) {
				t.Helper()
				for _, f := range flows {
					cfg := oauth2.Config{ClientID: f.client, Endpoint: provider.Endpoint(), RedirectURL: callback, Scopes: []string{oidc.ScopeOpenID}}
					tok := codeFlow(t, ctx, st, hc, cfg, round+"-"+f.client)
					raw, _ := tok.Extra("id_token").(string)
					jws, err := jose.Parse(raw)
					if err != nil {
						t.Fatalf("%s: ID token: %v", f.client, err)
					}
					if jws.Header.Algorithm != f.want {
						t.Fatalf("%s: ID token signed with %s, want %s", f.client, jws.Header.Algorithm, f.want)
					}
					idt, err := provider.Verifier(&oidc.Config{ClientID: f.client, SupportedSigningAlgs: []string{string(f.want)}}).Verify(ctx, raw)
					if err != nil {
						t.Fatalf("%s, %s: go-oidc refuses the %s ID token: %v", round, f.client, f.want, err)
					}
					if idt.Nonce != "nonce-"+round+"-"+f.client {
						t.Errorf("%s: nonce %q", f.client, idt.Nonce)
					}
					other := jose.RS256
					if f.want == jose.RS256 {
						other = alg
					}
					if _, err := provider.Verifier(&oidc.Config{ClientID: f.client, SupportedSigningAlgs: []string{string(other)}}).Verify(ctx, raw); err == nil {
						t.Fatalf("%s: a verifier limited to %s accepted a %s ID token", f.client, other, f.want)
					}
					access, err := jose.Parse(tok.AccessToken)
					if err != nil || access.Header.Algorithm != alg {
						t.Fatalf("%s: access token signed with %s (%v), want %s", f.client, access.Header.Algorithm, err, alg)
					}
				}
			}
			run("first")

			// Both keys rotate; the new kids are unknown to the provider's
			// cached key set, which fetches the JWKS again.
			before, beforeID := mustSigner(t, st.keys), mustIDTokenSigner(t, st.keys)
			if _, err := st.keys.Rotate(t.Context(), true); err != nil {
				t.Fatal(err)
			}
			after, afterID := mustSigner(t, st.keys), mustIDTokenSigner(t, st.keys)
			if after.KeyID() == before.KeyID() || afterID.KeyID() == beforeID.KeyID() || afterID.Algorithm() != jose.RS256 {
				t.Fatalf("rotation: %s/%s -> %s/%s", before.KeyID(), beforeID.KeyID(), after.KeyID(), afterID.KeyID())
			}
			run("rotated")
		})
	}
}

func sorted(algs ...jose.Algorithm) []jose.Algorithm {
	slices.Sort(algs)
	return algs
}

func mustSigner(tb testing.TB, km *issuer.KeyManager) *jose.Signer {
	tb.Helper()
	s, err := km.Signer()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func mustIDTokenSigner(tb testing.TB, km *issuer.KeyManager) *jose.Signer {
	tb.Helper()
	s, err := km.IDTokenSigner(jose.RS256)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}
