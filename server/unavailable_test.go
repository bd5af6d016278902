package server

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/oauthtest"
)

// downStore is a store whose database can be cut: while down is set, every
// call fails as a backend fails when it cannot reach its database, with an
// error wrapping keyward.ErrUnavailable.
type downStore struct {
	keyward.Store
	down atomic.Bool
}

var _ keyward.Store = (*downStore)(nil)

func (s *downStore) err(op string) error {
	if s.down.Load() {
		return fmt.Errorf("%s: dial tcp 127.0.0.1:5432: connect: connection refused: %w", op, keyward.ErrUnavailable)
	}
	return nil
}

func (s *downStore) CreateUser(ctx context.Context, u keyward.User) error {
	if err := s.err("create user"); err != nil {
		return err
	}
	return s.Store.CreateUser(ctx, u)
}

func (s *downStore) GetUser(ctx context.Context, id string) (keyward.User, error) {
	if err := s.err("get user"); err != nil {
		return keyward.User{}, err
	}
	return s.Store.GetUser(ctx, id)
}

func (s *downStore) GetUserByName(ctx context.Context, name string) (keyward.User, error) {
	if err := s.err("get user by name"); err != nil {
		return keyward.User{}, err
	}
	return s.Store.GetUserByName(ctx, name)
}

func (s *downStore) GetClient(ctx context.Context, id string) (keyward.Client, error) {
	if err := s.err("get client"); err != nil {
		return keyward.Client{}, err
	}
	return s.Store.GetClient(ctx, id)
}

func (s *downStore) CreateRefreshToken(ctx context.Context, t keyward.RefreshToken) error {
	if err := s.err("create refresh token"); err != nil {
		return err
	}
	return s.Store.CreateRefreshToken(ctx, t)
}

func (s *downStore) GetRefreshToken(ctx context.Context, hash []byte) (keyward.RefreshToken, error) {
	if err := s.err("get refresh token"); err != nil {
		return keyward.RefreshToken{}, err
	}
	return s.Store.GetRefreshToken(ctx, hash)
}

func (s *downStore) RotateRefreshToken(ctx context.Context, old []byte, next keyward.RefreshToken, now time.Time) (keyward.RefreshToken, error) {
	if err := s.err("rotate refresh token"); err != nil {
		return keyward.RefreshToken{}, err
	}
	return s.Store.RotateRefreshToken(ctx, old, next, now)
}

func (s *downStore) RevokeRefreshFamily(ctx context.Context, family string, now time.Time) error {
	if err := s.err("revoke refresh family"); err != nil {
		return err
	}
	return s.Store.RevokeRefreshFamily(ctx, family, now)
}

func (s *downStore) CreateAuthCode(ctx context.Context, c keyward.AuthCode) error {
	if err := s.err("create auth code"); err != nil {
		return err
	}
	return s.Store.CreateAuthCode(ctx, c)
}

func (s *downStore) ConsumeAuthCode(ctx context.Context, hash []byte, now time.Time) (keyward.AuthCode, error) {
	if err := s.err("consume auth code"); err != nil {
		return keyward.AuthCode{}, err
	}
	return s.Store.ConsumeAuthCode(ctx, hash, now)
}

func (s *downStore) CreateSession(ctx context.Context, sess keyward.Session) error {
	if err := s.err("create session"); err != nil {
		return err
	}
	return s.Store.CreateSession(ctx, sess)
}

func (s *downStore) GetSessionByCookie(ctx context.Context, hash []byte) (keyward.Session, error) {
	if err := s.err("get session"); err != nil {
		return keyward.Session{}, err
	}
	return s.Store.GetSessionByCookie(ctx, hash)
}

func (s *downStore) RevokeSession(ctx context.Context, id string, now time.Time) error {
	if err := s.err("revoke session"); err != nil {
		return err
	}
	return s.Store.RevokeSession(ctx, id, now)
}

func (s *downStore) RevokeAccessToken(ctx context.Context, t keyward.RevokedToken) error {
	if err := s.err("revoke access token"); err != nil {
		return err
	}
	return s.Store.RevokeAccessToken(ctx, t)
}

func (s *downStore) IsAccessTokenRevoked(ctx context.Context, jti string) (bool, error) {
	if err := s.err("is access token revoked"); err != nil {
		return false, err
	}
	return s.Store.IsAccessTokenRevoked(ctx, jti)
}

func (s *downStore) ListRevokedTokens(ctx context.Context, now time.Time) ([]keyward.RevokedToken, error) {
	if err := s.err("list revoked tokens"); err != nil {
		return nil, err
	}
	return s.Store.ListRevokedTokens(ctx, now)
}

func (s *downStore) ListUserRevocations(ctx context.Context) ([]keyward.UserRevocation, error) {
	if err := s.err("list user revocations"); err != nil {
		return nil, err
	}
	return s.Store.ListUserRevocations(ctx)
}

func (s *downStore) UseJTI(ctx context.Context, iss, jti string, exp time.Time) error {
	if err := s.err("use jti"); err != nil {
		return err
	}
	return s.Store.UseJTI(ctx, iss, jti, exp)
}

func (s *downStore) Ping(ctx context.Context) error {
	if err := s.err("ping"); err != nil {
		return err
	}
	return s.Store.Ping(ctx)
}

// TestStoreUnavailable cuts the store under a running issuer: every
// endpoint that needs it answers 503 temporarily_unavailable with
// Retry-After (an HTML page for the browser's), the JWK Set is still
// served, and once the store is back the same requests succeed.
func TestStoreUnavailable(t *testing.T) {
	t.Parallel()
	var ds *downStore
	st := newStack(t, stackOptions{wrap: func(s keyward.Store) keyward.Store {
		ds = &downStore{Store: s}
		return ds
	}})
	st.addUser(t, "alice", "alice-password-1")
	const redirect = "http://127.0.0.1:1/cb"
	secret := st.addClient(t, keyward.Client{ID: "app", Name: "App", RedirectURIs: []string{redirect},
		GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"}, Scopes: []string{"read"}})
	tok := st.login(t, "alice", "alice-password-1")

	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Jar: jar, Transport: st.srv.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	authorizeURL := st.srv.URL + "/authorize?" + url.Values{"client_id": {"app"}, "redirect_uri": {redirect},
		"response_type": {"code"}, "scope": {"read"}, "state": {"s1"},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGXSywrbZM"}, "code_challenge_method": {"S256"}}.Encode()
	browse := func(t *testing.T, method, u string, form url.Values) (*http.Response, string) {
		t.Helper()
		return oauthtest.Do(t, hc, method, u, form)
	}
	// The login page, with its CSRF cookie, is fetched while the store
	// is up; the form is sent while it is down.
	_, page := browse(t, http.MethodGet, authorizeURL, nil)
	loginForm := url.Values{}
	for _, f := range hiddenFieldRE.FindAllStringSubmatch(page, -1) {
		loginForm.Set(f[1], html.UnescapeString(f[2]))
	}
	if loginForm.Get("csrf_token") == "" {
		t.Fatalf("no login form in:\n%s", page)
	}
	loginForm.Set("username", "alice")
	loginForm.Set("password", "alice-password-1")

	refresh := func(rt string) url.Values {
		return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	}
	bearer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok.AccessToken) }
	jsonTests := []struct {
		name                string
		method, path, ctype string
		body                string
		mutate              func(*http.Request)
	}{
		{"login", "POST", "/login", mediaJSON, `{"username":"alice","password":"alice-password-1"}`, nil},
		{"refresh grant", "POST", "/token", mediaForm, refresh(tok.RefreshToken).Encode(), nil},
		{"client credentials", "POST", "/token", mediaForm, "grant_type=client_credentials", basic("app", secret)},
		{"revoke", "POST", "/revoke", mediaForm, "token=" + tok.RefreshToken, nil},
		{"introspect", "POST", "/introspect", mediaForm, "token=" + tok.RefreshToken, basic("app", secret)},
		{"userinfo", "GET", "/userinfo", "", "", bearer},
		{"revocation feed", "GET", "/revocations", "", "", nil},
		{"readyz", "GET", "/readyz", "", "", nil},
	}
	ds.down.Store(true)
	for _, tt := range jsonTests {
		resp, b := st.do(t, tt.method, tt.path, tt.ctype, strings.NewReader(tt.body), tt.mutate)
		if resp.StatusCode != http.StatusServiceUnavailable || oauthError(t, resp, b) != "temporarily_unavailable" ||
			resp.Header.Get("Retry-After") != "5" {
			t.Errorf("%s with the store down: %d, Retry-After %q, %s; want 503 temporarily_unavailable, Retry-After 5",
				tt.name, resp.StatusCode, resp.Header.Get("Retry-After"), b)
		}
	}
	for _, tt := range []struct {
		name   string
		method string
		url    string
		form   url.Values
	}{
		{"authorize", http.MethodGet, authorizeURL, nil},
		{"login form", http.MethodPost, st.srv.URL + "/authorize", loginForm},
	} {
		resp, body := browse(t, tt.method, tt.url, tt.form)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "5" ||
			!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "temporarily unavailable") {
			t.Errorf("%s with the store down: %d, Retry-After %q, Content-Type %q; want a 503 page with Retry-After 5:\n%s",
				tt.name, resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"), body)
		}
	}
	if resp, b := st.do(t, http.MethodGet, "/.well-known/jwks.json", "", nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("JWKS with the store down: %d %s", resp.StatusCode, b)
	}
	if logs := st.logs.String(); strings.Contains(logs, tok.RefreshToken) || strings.Contains(logs, "alice-password-1") {
		t.Error("a secret reached the logs")
	}

	ds.down.Store(false)
	resp, b := st.postForm(t, "/token", refresh(tok.RefreshToken), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh once the store is back: %d %s", resp.StatusCode, b)
	}
	if resp, b := st.do(t, http.MethodPost, "/login", mediaJSON, strings.NewReader(`{"username":"alice","password":"alice-password-1"}`), nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("login once the store is back: %d %s", resp.StatusCode, b)
	}
	resp, body := browse(t, http.MethodPost, st.srv.URL+"/authorize", loginForm)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), redirect+"?") {
		t.Fatalf("login form once the store is back: %d, Location %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	// With a session, logout needs the store too.
	ds.down.Store(true)
	resp, body = browse(t, http.MethodPost, st.srv.URL+"/logout", url.Values{"csrf_token": {loginForm.Get("csrf_token")}})
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "5" || !strings.Contains(body, "temporarily unavailable") {
		t.Errorf("logout with the store down: %d, Retry-After %q\n%s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	ds.down.Store(false)
	if resp, body := browse(t, http.MethodPost, st.srv.URL+"/logout", url.Values{"csrf_token": {loginForm.Get("csrf_token")}}); resp.StatusCode != http.StatusOK ||
		!strings.Contains(body, "You are signed out.") {
		t.Errorf("logout once the store is back: %d\n%s", resp.StatusCode, body)
	}
}

// hiddenFieldRE finds the hidden fields of the login page.
var hiddenFieldRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
