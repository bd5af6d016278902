package server_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-json-experiment/json"
	"golang.org/x/oauth2"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/oauthtest"
	"github.com/keyward/keyward/issuer"
	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/storage/memory"
)

// stack is an issuer on the memory store served over real HTTP on a
// loopback port, built through the exported API as keyward serve builds it.
type stack struct {
	srv   *httptest.Server
	store keyward.Store
	keys  *issuer.KeyManager
}

// newStack starts a stack whose key manager signs with alg (ES256 when
// empty) and has made its first keys.
func newStack(tb testing.TB, alg jose.Algorithm) *stack {
	tb.Helper()
	store := memory.New(memory.Config{})
	logger := slog.New(slog.DiscardHandler)
	var h http.Handler = http.NotFoundHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	tb.Cleanup(srv.Close)
	sealer, err := issuer.NewSealer(bytes.Repeat([]byte{7}, issuer.MasterKeySize), nil)
	if err != nil {
		tb.Fatal(err)
	}
	if alg == "" {
		alg = jose.ES256
	}
	km, err := issuer.NewKeyManager(issuer.KeyManagerConfig{
		Store: store, Sealer: sealer, Alg: alg, JWKSMaxAge: 5 * time.Minute, Logger: logger,
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := km.Step(tb.Context()); err != nil {
		tb.Fatal(err)
	}
	iss, err := issuer.New(issuer.Config{
		Store: store, Keys: km, Issuer: srv.URL, Logger: logger,
		Password: issuer.PasswordParams{Memory: 64, Time: 1, Threads: 1},
	})
	if err != nil {
		tb.Fatal(err)
	}
	s, err := server.New(server.Config{Issuer: iss, Store: store, Logger: logger, MaxBodyBytes: 8 << 10})
	if err != nil {
		tb.Fatal(err)
	}
	h = s
	return &stack{srv: srv, store: store, keys: km}
}

// do sends a request and returns the response with its body read.
func (s *stack) do(tb testing.TB, method, path, contentType string, body io.Reader) (*http.Response, []byte) {
	tb.Helper()
	req, err := http.NewRequestWithContext(tb.Context(), method, s.srv.URL+path, body)
	if err != nil {
		tb.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, b := send(tb, s.srv.Client(), req)
	return resp, []byte(b)
}

func (s *stack) postForm(tb testing.TB, path string, form url.Values) (*http.Response, []byte) {
	tb.Helper()
	return s.do(tb, http.MethodPost, path, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
}

func decodeToken(tb testing.TB, resp *http.Response, b []byte) issuer.TokenResponse {
	tb.Helper()
	if resp.Header.Get("Cache-Control") != "no-store" {
		tb.Fatalf("token response Cache-Control %q, want no-store", resp.Header.Get("Cache-Control"))
	}
	var tr issuer.TokenResponse
	if err := json.Unmarshal(b, &tr); err != nil {
		tb.Fatalf("%v: %s", err, b)
	}
	return tr
}

func (s *stack) addUser(tb testing.TB, name, password string) keyward.User {
	tb.Helper()
	u, err := issuer.NewUser(tb.Context(), s.store, name, password, []string{"admin"},
		map[string]any{"email": name + "@example.com"}, issuer.PasswordParams{Memory: 64, Time: 1, Threads: 1}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

func (s *stack) addClient(tb testing.TB, c keyward.Client) string {
	tb.Helper()
	secret, hash, err := issuer.NewClientSecret(nil)
	if err != nil {
		tb.Fatal(err)
	}
	if !c.Public {
		c.SecretHash = hash
	}
	if err := s.store.CreateClient(tb.Context(), c); err != nil {
		tb.Fatal(err)
	}
	return secret
}

const callback = oauthtest.Callback

// browser is a user agent for st that stops at the client's redirect URI.
func browser(tb testing.TB, st *stack) *http.Client {
	return oauthtest.Browser(tb, st.srv.Client().Transport)
}

func get(tb testing.TB, hc *http.Client, u string) (*http.Response, string) {
	tb.Helper()
	return oauthtest.Get(tb, hc, u)
}

func send(tb testing.TB, hc *http.Client, req *http.Request) (*http.Response, string) {
	tb.Helper()
	return oauthtest.Send(tb, hc, req)
}

func loginForm(tb testing.TB, page string) url.Values {
	tb.Helper()
	return oauthtest.LoginForm(tb, page)
}

func postLogin(tb testing.TB, hc *http.Client, st *stack, f url.Values) (*http.Response, string) {
	tb.Helper()
	return oauthtest.PostLogin(tb, hc, st.srv.URL, f)
}

func codeFrom(tb testing.TB, st *stack, resp *http.Response, body, state string) string {
	tb.Helper()
	return oauthtest.CodeFrom(tb, st.srv.URL, resp, body, state)
}

// challenge is the S256 code_challenge of a verifier.
func challenge(v string) string { return oauthtest.Challenge(v) }

// oidcStack is a stack with a user and two clients registered for the
// code flow: a public one and a confidential one.
type oidcStack struct {
	*stack
	secret string
}

func newOIDCStack(tb testing.TB) *oidcStack {
	tb.Helper()
	st := newStack(tb, "")
	st.addUser(tb, "alice", "correct horse battery staple")
	grants := []string{issuer.GrantAuthorizationCode, issuer.GrantRefreshToken}
	st.addClient(tb, keyward.Client{ID: "spa", Name: "Single-page app", Public: true, RedirectURIs: []string{callback}, GrantTypes: grants})
	secret := st.addClient(tb, keyward.Client{ID: "web", Name: "Web app", RedirectURIs: []string{callback}, GrantTypes: grants, Scopes: []string{"orders"}})
	return &oidcStack{stack: st, secret: secret}
}

// clientContext is the context golang.org/x/oauth2 and go-oidc take their
// HTTP client from: the stack's own.
func clientContext(tb testing.TB, st *stack) context.Context {
	ctx := context.WithValue(tb.Context(), oauth2.HTTPClient, st.srv.Client())
	return oidc.ClientContext(ctx, st.srv.Client())
}
