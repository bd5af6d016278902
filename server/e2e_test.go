package server

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/go-json-experiment/json"

	"github.com/keyward/keyward/gate"
	"github.com/keyward/keyward/issuer"
	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/jwks"
	"github.com/keyward/keyward/verifier"
)

// TestEndToEnd drives the recipe through real HTTP on SQLite: the bootstrap
// admin logs in at /login, the gate (its demo API, configured like
// "keyward gate --issuer URL --audience api", discovering the JWKS from the
// issuer's metadata) accepts the access token on /protected, the refreshed
// token too, and a token signed after an immediate key rotation as well.
// One fake clock drives the issuer, the store, the key cache and the
// verifier: nothing waits on the real clock.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	s := newStack(t, stackOptions{sqlite: true, now: clk.Now})
	password, created, err := issuer.Bootstrap(t.Context(), s.store, issuer.PasswordParams{Memory: 64, Time: 1, Threads: 1}, nil)
	if err != nil || !created {
		t.Fatalf("Bootstrap: %v %v", created, err)
	}

	keys, err := jwks.New(jwks.Config{Issuer: s.srv.URL, Client: s.srv.Client(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.New(verifier.Config{
		Keys: keys, Issuers: []string{s.srv.URL}, Audiences: []string{issuer.DefaultAudience},
		Algorithms: []jose.Algorithm{jose.RS256, jose.ES256, jose.EdDSA}, Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	g, err := gate.New(gate.Config{Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(g)
	t.Cleanup(api.Close)
	protected := func(token string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, api.URL+"/protected", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := api.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.UnmarshalRead(resp.Body, &body)
		return resp.StatusCode, body
	}

	tok := s.login(t, "admin", password)
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.TokenType != "Bearer" || tok.ExpiresIn != 900 {
		t.Fatalf("login response %+v", tok)
	}
	code, body := protected(tok.AccessToken)
	if code != 200 || body["message"] != "You have accessed a protected route!" {
		t.Fatalf("/protected with the token: %d %v", code, body)
	}
	claims, _ := body["claims"].(map[string]any)
	if claims["client_id"] != issuer.FirstPartyClientID || claims["aud"] == nil || claims["sub"] == "" {
		t.Fatalf("claims seen by the API: %v", claims)
	}
	if code, _ := protected(""); code != 401 {
		t.Fatalf("/protected without a token: %d", code)
	}
	if code, _ := protected(tok.AccessToken[:len(tok.AccessToken)-4] + "AAAA"); code != 401 {
		t.Fatalf("/protected with a forged signature: %d", code)
	}

	// The refresh token works once over HTTP, and its access token passes.
	resp, b := s.postForm(t, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("refresh: %d %s", resp.StatusCode, b)
	}
	refreshed := decodeToken(t, resp, b)
	if code, _ := protected(refreshed.AccessToken); code != 200 {
		t.Fatalf("/protected with the refreshed token: %d", code)
	}

	// After an immediate rotation the gate meets an unknown kid and refetches.
	if _, err := s.keys.Rotate(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	rotated := s.login(t, "admin", password)
	if code, body := protected(rotated.AccessToken); code != 200 {
		t.Fatalf("/protected with a token of the new key: %d %v", code, body)
	}
	if code, _ := protected(tok.AccessToken); code != 200 {
		t.Fatal("a token of the retired key stopped verifying before its expiry")
	}
}
