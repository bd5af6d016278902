package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/jose"
)

// issuer stands in for keyward serve: an ES256 key and its JWKS over HTTP.
type issuer struct {
	*httptest.Server
	signer *jose.Signer
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	key, err := jose.GenerateKey(jose.ES256, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := jose.NewJWK(key, jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jwk.Public()
	if err != nil {
		t.Fatal(err)
	}
	set, err := (&jose.JWKS{Keys: []*jose.JWK{pub}}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	s, err := jose.NewSigner(key, jose.ES256, pub.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(set)
	}))
	t.Cleanup(srv.Close)
	return &issuer{Server: srv, signer: s}
}

func (is *issuer) token(t *testing.T, aud string, ttl time.Duration) string {
	t.Helper()
	now := time.Now()
	tok, err := is.signer.SignJWT("at+jwt", &jose.Claims{
		Issuer: "https://issuer.example", Subject: "alice", Audience: jose.Audience{aud},
		IssuedAt: jose.NewNumericDate(now.Add(-time.Hour)), Expiry: jose.NewNumericDate(now.Add(ttl)),
		Extra: map[string]any{"scope": "read:messages"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestProtectedAPI(t *testing.T) {
	is := newIssuer(t)
	h, keys, err := New(Config{
		JWKSURL: is.URL, Issuer: "https://issuer.example", Audience: "api",
		Algorithms: []jose.Algorithm{jose.RS256, jose.ES256}, Client: is.Client(),
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	go keys.Run(t.Context())
	api := httptest.NewServer(h)
	defer api.Close()

	valid := is.token(t, "api", 15*time.Minute)
	cases := []struct {
		name, path, token string
		wantStatus        int
		wantBody          string
	}{
		{name: "public", path: "/", wantStatus: 200, wantBody: "This is a public route"},
		{name: "no token", path: "/protected", wantStatus: 401},
		{name: "valid", path: "/protected", token: valid, wantStatus: 200, wantBody: `"sub":"alice"`},
		{name: "tampered", path: "/protected", token: valid[:len(valid)-4] + "AAAA", wantStatus: 401, wantBody: "invalid_token"},
		{name: "expired", path: "/protected", token: is.token(t, "api", -10*time.Minute), wantStatus: 401, wantBody: "invalid_token"},
		{name: "other audience", path: "/protected", token: is.token(t, "billing", 15*time.Minute), wantStatus: 401, wantBody: "invalid_token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, api.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := api.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, body)
			}
			text := string(body) + resp.Header.Get("WWW-Authenticate")
			if !strings.Contains(text, tc.wantBody) {
				t.Fatalf("response %q (WWW-Authenticate %q) lacks %q", body, resp.Header.Get("WWW-Authenticate"), tc.wantBody)
			}
			if resp.StatusCode == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("401 without a Bearer challenge: %q", resp.Header.Get("WWW-Authenticate"))
			}
			if tc.name == "valid" {
				var got struct {
					Message string         `json:"message"`
					Claims  map[string]any `json:"claims"`
				}
				if err := json.Unmarshal(body, &got); err != nil {
					t.Fatal(err)
				}
				if got.Message != "You have accessed a protected route!" || got.Claims["scope"] != "read:messages" {
					t.Fatalf("body %s", body)
				}
			}
		})
	}
}
