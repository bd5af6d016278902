package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/jwks"
	"github.com/keyward/keyward/verifier"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func getToken(t *testing.T, client *http.Client, url, id, secret string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/token", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(id, secret)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatalf("token response %s: %v", b, err)
		}
		if body.TokenType != "Bearer" || body.ExpiresIn != 900 {
			t.Fatalf("token response %s", b)
		}
	}
	return resp.StatusCode, body.AccessToken
}

func TestIssueRotateVerify(t *testing.T) {
	clk := &clock{t: time.Now()}
	cfg := Config{
		Issuer: "https://issuer.example", Audience: "api://demo",
		ClientID: "demo", ClientSecret: "s3cret",
		TTL: 15 * time.Minute, Alg: jose.ES256, Now: clk.Now,
	}
	ring, err := NewKeyRing(nil, cfg.Alg, cfg.TTL, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHandler(cfg, ring, slog.New(slog.DiscardHandler)))
	defer srv.Close()
	client := srv.Client()

	// A verifier as a service would build it, fetching the JWKS over HTTP.
	// The short cooldown lets it refetch once the clock moves after the
	// rotation below.
	newVerifier := func() *verifier.Verifier {
		remote, err := jwks.New(jwks.Config{URL: srv.URL + "/jwks.json", Client: client, Now: clk.Now, UnknownKIDRefill: time.Nanosecond})
		if err != nil {
			t.Fatal(err)
		}
		v, err := verifier.New(verifier.Config{
			Keys: remote, Algorithms: []jose.Algorithm{jose.ES256},
			Issuers: []string{cfg.Issuer}, Audiences: []string{cfg.Audience}, Now: clk.Now,
		})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	v := newVerifier()

	if status, _ := getToken(t, client, srv.URL, "demo", "wrong"); status != http.StatusUnauthorized {
		t.Fatalf("wrong secret: %d, want 401", status)
	}
	status, first := getToken(t, client, srv.URL, "demo", "s3cret")
	if status != http.StatusOK {
		t.Fatalf("POST /token: %d", status)
	}
	claims, err := v.Verify(t.Context(), first)
	if err != nil {
		t.Fatalf("first token: %v", err)
	}
	if claims.Subject != "demo" || claims.String("scope") != "read:messages" {
		t.Fatalf("claims %+v", claims)
	}
	firstKID := ring.Signer().KeyID()

	if err := ring.Rotate(); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Second)
	_, second := getToken(t, client, srv.URL, "demo", "s3cret")
	if ring.Signer().KeyID() == firstKID {
		t.Fatal("rotation kept the key ID")
	}
	// The new token's kid is unknown to the cached set: the verifier
	// refetches and finds it. The first token still verifies: its key is
	// retired, not removed.
	for name, tok := range map[string]string{"second": second, "first": first} {
		if _, err := v.Verify(t.Context(), tok); err != nil {
			t.Fatalf("%s token after rotation: %v", name, err)
		}
	}

	// Once every token of the old key has expired, the key leaves the set.
	clk.Add(cfg.TTL + 2*time.Minute)
	set, err := jwks.Fetch(t.Context(), client, srv.URL+"/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	if ids := set.KeyIDs(); len(ids) != 1 || ids[0] != ring.Signer().KeyID() {
		t.Fatalf("JWKS after the retirement period: %v, want only %s", ids, ring.Signer().KeyID())
	}
	if _, err := newVerifier().Verify(t.Context(), first); err == nil {
		t.Fatal("a token of the removed key still verifies")
	}
}
