package server_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// TestOAuthClientLibraries runs the code flow with PKCE through
// golang.org/x/oauth2 and github.com/coreos/go-oidc/v3, then single sign-on
// for a second client, userinfo, refresh, revocation and logout.
func TestOAuthClientLibraries(t *testing.T) {
	t.Parallel()
	st := newOIDCStack(t)
	ctx := clientContext(t, st.stack)
	provider, err := oidc.NewProvider(ctx, st.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	spa := oauth2.Config{ClientID: "spa", Endpoint: provider.Endpoint(), RedirectURL: callback,
		Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}
	hc := browser(t, st.stack)

	verifier := oauth2.GenerateVerifier()
	resp, page := get(t, hc, spa.AuthCodeURL("state-1", oauth2.S256ChallengeOption(verifier), oidc.Nonce("nonce-1")))
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="password"`) {
		t.Fatalf("authorize: %d, want the login page:\n%s", resp.StatusCode, page)
	}
	for _, c := range resp.Cookies() {
		if !c.HttpOnly || c.Path != "/" {
			t.Errorf("cookie %s: HttpOnly %v Path %q", c.Name, c.HttpOnly, c.Path)
		}
	}
	f := loginForm(t, page)
	f.Set("username", "alice")
	f.Set("password", "correct horse battery staple")
	resp, body := postLogin(t, hc, st.stack, f)
	code := codeFrom(t, st.stack, resp, body, "state-1")
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "keyward_session" {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Secure {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Lax, not Secure on http", session)
	}

	tok, err := spa.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: "spa"}).Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	if idt.Nonce != "nonce-1" {
		t.Errorf("nonce %q", idt.Nonce)
	}
	var idClaims struct {
		Email    string `json:"email"`
		Username string `json:"preferred_username"`
		AuthTime int64  `json:"auth_time"`
	}
	if err := idt.Claims(&idClaims); err != nil || idClaims.Email != "alice@example.com" || idClaims.Username != "alice" || idClaims.AuthTime == 0 {
		t.Errorf("ID token claims %+v (%v)", idClaims, err)
	}
	info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatal(err)
	}
	if info.Subject != idt.Subject || info.Email != "alice@example.com" {
		t.Errorf("userinfo sub %q email %q, want %q alice@example.com", info.Subject, info.Email, idt.Subject)
	}

	// Refresh through the library: an expired token is renewed.
	old := *tok
	old.Expiry = time.Now().Add(-time.Minute)
	fresh, err := spa.TokenSource(ctx, &old).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == tok.RefreshToken || fresh.RefreshToken == "" {
		t.Fatal("refresh did not rotate the tokens")
	}

	// Single sign-on: the confidential client gets a code without a login.
	web := oauth2.Config{ClientID: "web", ClientSecret: st.secret, Endpoint: provider.Endpoint(), RedirectURL: callback,
		Scopes: []string{oidc.ScopeOpenID, "orders"}}
	verifier2 := oauth2.GenerateVerifier()
	resp, body = get(t, hc, web.AuthCodeURL("state-2", oauth2.S256ChallengeOption(verifier2), oidc.Nonce("nonce-2")))
	code2 := codeFrom(t, st.stack, resp, body, "state-2")
	tok2, err := web.Exchange(ctx, code2, oauth2.VerifierOption(verifier2))
	if err != nil {
		t.Fatal(err)
	}
	idt2, err := provider.Verifier(&oidc.Config{ClientID: "web"}).Verify(ctx, tok2.Extra("id_token").(string))
	if err != nil || idt2.Subject != idt.Subject || idt2.Nonce != "nonce-2" {
		t.Fatalf("SSO ID token %+v: %v", idt2, err)
	}
	if got := tok2.Extra("scope"); got != "openid orders" {
		t.Errorf("scope %v, want openid orders", got)
	}

	// Revocation: the revoked refresh token no longer refreshes.
	rr, b := st.postForm(t, "/revoke", url.Values{"token": {fresh.RefreshToken}, "client_id": {"spa"}})
	if rr.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d %s", rr.StatusCode, b)
	}
	gone := *fresh
	gone.Expiry = time.Now().Add(-time.Minute)
	var re *oauth2.RetrieveError
	if _, err := spa.TokenSource(ctx, &gone).Token(); !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Fatalf("refresh after revoke: %v, want invalid_grant", err)
	}

	// RP-initiated logout with the ID token as id_token_hint ends the
	// session and revokes the refresh tokens issued in it.
	if resp, body := get(t, hc, st.srv.URL+"/logout?"+url.Values{"id_token_hint": {rawID}}.Encode()); resp.StatusCode != http.StatusOK ||
		!strings.Contains(body, "You are signed out.") {
		t.Fatalf("logout: %d %s", resp.StatusCode, body)
	}
	expired2 := *tok2
	expired2.Expiry = time.Now().Add(-time.Minute)
	if _, err := web.TokenSource(ctx, &expired2).Token(); !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Fatalf("refresh after logout: %v, want invalid_grant", err)
	}
	resp, page = get(t, hc, spa.AuthCodeURL("state-3", oauth2.S256ChallengeOption(verifier)))
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="password"`) {
		t.Fatalf("authorize after logout: %d, want the login page", resp.StatusCode)
	}
}
