package server

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/oauthtest"
	"github.com/keyward/keyward/issuer"
	"github.com/keyward/keyward/jose"
)

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

// oidcStack is a stack with a user and two clients registered for the
// code flow: a public one and a confidential one.
type oidcStack struct {
	*stack
	secret string
}

func newOIDCStack(tb testing.TB) *oidcStack {
	tb.Helper()
	st := newStack(tb, stackOptions{})
	st.addUser(tb, "alice", "correct horse battery staple")
	grants := []string{issuer.GrantAuthorizationCode, issuer.GrantRefreshToken}
	st.addClient(tb, keyward.Client{ID: "spa", Name: "Single-page app", Public: true, RedirectURIs: []string{callback}, GrantTypes: grants})
	secret := st.addClient(tb, keyward.Client{ID: "web", Name: "Web app", RedirectURIs: []string{callback}, GrantTypes: grants, Scopes: []string{"orders"}})
	return &oidcStack{stack: st, secret: secret}
}

// newVerifier returns a PKCE code verifier of 32 random octets, RFC 7636
// §4.1.
func newVerifier() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// challenge is the S256 code_challenge of a verifier.
func challenge(v string) string { return oauthtest.Challenge(v) }

// signIn runs the login for the public client and returns the code, the
// verifier of its challenge.
func (st *oidcStack) signIn(tb testing.TB, hc *http.Client, verifier string) string {
	tb.Helper()
	q := url.Values{"response_type": {"code"}, "client_id": {"spa"}, "redirect_uri": {callback}, "scope": {"openid"},
		"state": {"s"}, "code_challenge": {challenge(verifier)}, "code_challenge_method": {"S256"}}
	resp, page := get(tb, hc, st.srv.URL+"/authorize?"+q.Encode())
	if resp.StatusCode == http.StatusOK {
		f := loginForm(tb, page)
		f.Set("username", "alice")
		f.Set("password", "correct horse battery staple")
		resp, page = postLogin(tb, hc, st.stack, f)
	}
	return codeFrom(tb, st.stack, resp, page, "s")
}

func (st *oidcStack) exchange(tb testing.TB, code, verifier, redirect string) (*http.Response, []byte) {
	tb.Helper()
	f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "client_id": {"spa"}}
	if verifier != "" {
		f.Set("code_verifier", verifier)
	}
	return st.postForm(tb, "/token", f, nil)
}

// TestAuthorizeRefusals covers the authorization requests that must not be
// redirected, the redirected errors, and the CSRF check of the login form.
func TestAuthorizeRefusals(t *testing.T) {
	t.Parallel()
	st := newOIDCStack(t)
	v := newVerifier()
	base := url.Values{"response_type": {"code"}, "client_id": {"spa"}, "redirect_uri": {callback}, "scope": {"openid"},
		"state": {"st"}, "code_challenge": {challenge(v)}, "code_challenge_method": {"S256"}}
	with := func(k, val string) url.Values {
		q := url.Values{}
		for k, v := range base {
			q[k] = v
		}
		if val == "" {
			q.Del(k)
		} else {
			q.Set(k, val)
		}
		return q
	}
	for _, tc := range []struct {
		name   string
		query  url.Values
		status int    // for an error page
		error  string // for a redirect
	}{
		{"wrong redirect URI", with("redirect_uri", "http://127.0.0.1:1/other"), 400, ""},
		{"redirect URI prefix", with("redirect_uri", callback+"/x"), 400, ""},
		{"no redirect URI", with("redirect_uri", ""), 400, ""},
		{"unknown client", with("client_id", "nobody"), 400, ""},
		{"no PKCE for a public client", with("code_challenge", ""), 0, "invalid_request"},
		{"plain PKCE", with("code_challenge_method", "plain"), 0, "invalid_request"},
		{"token response type", with("response_type", "token"), 0, "unsupported_response_type"},
		{"unknown scope", with("scope", "openid admin"), 0, "invalid_scope"},
		{"prompt none without session", with("prompt", "none"), 0, "login_required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, body := get(t, browser(t, st.stack), st.srv.URL+"/authorize?"+tc.query.Encode())
			if tc.status != 0 {
				if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || resp.Header.Get("Location") != "" {
					t.Fatalf("status %d %q, want an HTML error page %d", resp.StatusCode, resp.Header.Get("Location"), tc.status)
				}
				return
			}
			loc, err := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), callback) {
				t.Fatalf("status %d to %q, want a redirect to the client; body %s", resp.StatusCode, resp.Header.Get("Location"), body)
			}
			if got := loc.Query().Get("error"); got != tc.error || loc.Query().Get("state") != "st" {
				t.Fatalf("error %q state %q, want %q st", got, loc.Query().Get("state"), tc.error)
			}
		})
	}
	t.Run("CSRF token missing or wrong", func(t *testing.T) {
		t.Parallel()
		hc := browser(t, st.stack)
		_, page := get(t, hc, st.srv.URL+"/authorize?"+base.Encode())
		f := loginForm(t, page)
		f.Set("username", "alice")
		f.Set("password", "correct horse battery staple")
		for _, csrf := range []string{"", strings.Repeat("A", 43)} {
			g := url.Values{}
			for k, v := range f {
				g[k] = v
			}
			g.Set("csrf_token", csrf)
			if csrf == "" {
				g.Del("csrf_token")
				g.Set("login", "1")
			}
			resp, body := postLogin(t, hc, st.stack, g)
			if csrf != "" && resp.StatusCode != http.StatusForbidden {
				t.Fatalf("wrong CSRF token: %d, want 403; body %s", resp.StatusCode, body)
			}
			if csrf == "" && (resp.StatusCode == http.StatusSeeOther || resp.StatusCode == http.StatusFound) {
				t.Fatalf("login without CSRF token redirected to %s", resp.Header.Get("Location"))
			}
		}
		// A form posted without the CSRF cookie (another site's form).
		resp, _ := postLogin(t, browser(t, st.stack), st.stack, f)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("login without the CSRF cookie: %d, want 403", resp.StatusCode)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		t.Parallel()
		hc := browser(t, st.stack)
		_, page := get(t, hc, st.srv.URL+"/authorize?"+base.Encode())
		f := loginForm(t, page)
		f.Set("username", "alice")
		f.Set("password", "wrong")
		resp, body := postLogin(t, hc, st.stack, f)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Invalid username or password") {
			t.Fatalf("wrong password: %d %s", resp.StatusCode, body)
		}
		f.Set("username", "nobody")
		_, body2 := postLogin(t, hc, st.stack, f)
		if !strings.Contains(body2, "Invalid username or password") {
			t.Fatalf("unknown user answered differently: %s", body2)
		}
	})
}

// TestCodeExchangeRefusals covers PKCE, redirect URI, reuse and expiry at
// the token endpoint.
func TestCodeExchangeRefusals(t *testing.T) {
	t.Parallel()
	st := newOIDCStack(t)
	hc := browser(t, st.stack)
	v := newVerifier()
	for _, tc := range []struct {
		name, verifier, redirect string
	}{
		{"missing verifier", "", callback},
		{"wrong verifier", newVerifier(), callback},
		{"short verifier", "abc", callback},
		{"wrong redirect URI", v, "http://127.0.0.1:1/other"},
		{"no redirect URI", v, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code := st.signIn(t, hc, v)
			resp, b := st.exchange(t, code, tc.verifier, tc.redirect)
			if got := oauthError(t, resp, b); got != "invalid_grant" {
				t.Fatalf("error %q, want invalid_grant", got)
			}
			// The code is spent even by a failed exchange.
			resp, b = st.exchange(t, code, v, callback)
			if got := oauthError(t, resp, b); got != "invalid_grant" {
				t.Fatalf("code usable after a failed exchange: %s", b)
			}
		})
	}
	t.Run("code reused", func(t *testing.T) {
		code := st.signIn(t, hc, v)
		resp, b := st.exchange(t, code, v, callback)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("first exchange: %d %s", resp.StatusCode, b)
		}
		first := decodeToken(t, resp, b)
		resp, b = st.exchange(t, code, v, callback)
		if got := oauthError(t, resp, b); got != "invalid_grant" {
			t.Fatalf("second exchange: %s", b)
		}
		resp, b = st.postForm(t, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}, "client_id": {"spa"}}, nil)
		if got := oauthError(t, resp, b); got != "invalid_grant" {
			t.Fatalf("refresh token of the first exchange still works after the reuse: %s", b)
		}
		if !strings.Contains(st.logs.String(), "code_reuse_detected") {
			t.Error("no code_reuse_detected audit line")
		}
	})
	t.Run("expired code", func(t *testing.T) {
		const code = "expired-code-value"
		sum := sha256.Sum256([]byte(code))
		u, err := st.store.GetUserByName(t.Context(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		if err := st.store.CreateAuthCode(t.Context(), keyward.AuthCode{
			Hash: sum[:], ClientID: "spa", UserID: u.ID, RedirectURI: callback, Scope: "openid",
			CodeChallenge: challenge(v), CodeChallengeMethod: "S256", ExpiresAt: time.Now().Add(-time.Second),
		}); err != nil {
			t.Fatal(err)
		}
		resp, b := st.exchange(t, code, v, callback)
		if got := oauthError(t, resp, b); got != "invalid_grant" || !strings.Contains(string(b), "expired") {
			t.Fatalf("expired code: %s", b)
		}
	})
	t.Run("confidential client without authentication", func(t *testing.T) {
		q := url.Values{"response_type": {"code"}, "client_id": {"web"}, "redirect_uri": {callback}, "state": {"s"}}
		resp, body := get(t, hc, st.srv.URL+"/authorize?"+q.Encode())
		code := codeFrom(t, st.stack, resp, body, "s")
		resp2, b := st.postForm(t, "/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {callback}, "client_id": {"web"}}, nil)
		if got := oauthError(t, resp2, b); got != "invalid_client" {
			t.Fatalf("unauthenticated confidential client: %s", b)
		}
	})
}

// assertionKey is a client's ES256 key with its public JWKS document.
type assertionKey struct {
	signer *jose.Signer
	jwks   []byte
}

func newAssertionKey(tb testing.TB) assertionKey {
	tb.Helper()
	priv, err := jose.GenerateKey(jose.ES256, 0, nil)
	if err != nil {
		tb.Fatal(err)
	}
	jwk, err := jose.NewJWK(priv, jose.ES256)
	if err != nil {
		tb.Fatal(err)
	}
	pub, err := jwk.Public()
	if err != nil {
		tb.Fatal(err)
	}
	doc, err := json.Marshal(map[string]any{"keys": []*jose.JWK{pub}})
	if err != nil {
		tb.Fatal(err)
	}
	signer, err := jose.NewSigner(priv, jose.ES256, jwk.KeyID)
	if err != nil {
		tb.Fatal(err)
	}
	return assertionKey{signer: signer, jwks: doc}
}

func (k assertionKey) assertion(tb testing.TB, iss, aud, jti string, ttl time.Duration) string {
	tb.Helper()
	now := time.Now()
	tok, err := k.signer.SignJWT("JWT", &jose.Claims{Issuer: iss, Subject: iss, Audience: jose.Audience{aud},
		Expiry: jose.NewNumericDate(now.Add(ttl)), IssuedAt: jose.NewNumericDate(now), ID: jti})
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// TestPrivateKeyJWT authenticates a client with an assertion signed by its
// own key (RFC 7523) and refuses a wrong key, a replayed jti, the wrong
// audience and a long-lived assertion.
func TestPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	st := newStack(t, stackOptions{})
	key, other := newAssertionKey(t), newAssertionKey(t)
	if err := st.store.CreateClient(t.Context(), keyward.Client{ID: "svc", GrantTypes: []string{issuer.GrantClientCredentials},
		Scopes: []string{"orders"}, JWKS: key.jwks}); err != nil {
		t.Fatal(err)
	}
	tokenURL := st.srv.URL + "/token"
	grant := func(assertion string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {issuer.ClientAssertionType},
			"client_assertion": {assertion}}
	}
	good := key.assertion(t, "svc", tokenURL, "jti-1", time.Minute)
	resp, b := st.postForm(t, "/token", grant(good), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("private_key_jwt: %d %s", resp.StatusCode, b)
	}
	access := decodeToken(t, resp, b).AccessToken
	resp, b = st.postForm(t, "/token", grant(key.assertion(t, "svc", st.srv.URL, "jti-iss", time.Minute)), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("assertion for the issuer URL: %d %s", resp.StatusCode, b)
	}
	for _, tc := range []struct {
		name, assertion string
	}{
		{"replayed jti", good},
		{"wrong key", other.assertion(t, "svc", tokenURL, "jti-2", time.Minute)},
		{"wrong audience", key.assertion(t, "svc", "https://elsewhere.example/token", "jti-3", time.Minute)},
		{"too long a life", key.assertion(t, "svc", tokenURL, "jti-4", time.Hour)},
		{"expired", key.assertion(t, "svc", tokenURL, "jti-5", -time.Hour)},
		{"other client", key.assertion(t, "nobody", tokenURL, "jti-6", time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := st.postForm(t, "/token", grant(tc.assertion), nil)
			if got := oauthError(t, resp, b); got != "invalid_client" || resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("%d %s, want 401 invalid_client", resp.StatusCode, b)
			}
		})
	}

	// Introspection by the authenticated client.
	introspect := func(token, jti string) map[string]any {
		t.Helper()
		f := url.Values{"token": {token}, "client_assertion_type": {issuer.ClientAssertionType},
			"client_assertion": {key.assertion(t, "svc", st.srv.URL+"/introspect", jti, time.Minute)}}
		resp, b := st.postForm(t, "/introspect", f, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("introspect: %d %s", resp.StatusCode, b)
		}
		var out map[string]any
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := introspect(access, "i-1"); got["active"] != true || got["client_id"] != "svc" || got["scope"] != "orders" {
		t.Errorf("introspect access token: %v", got)
	}
	if got := introspect("not-a-token", "i-2"); got["active"] != false || len(got) != 1 {
		t.Errorf("introspect garbage: %v", got)
	}
	resp, b = st.postForm(t, "/introspect", url.Values{"token": {access}}, nil)
	if got := oauthError(t, resp, b); got != "invalid_client" {
		t.Errorf("introspect without client authentication: %s", b)
	}
	rr, b := st.postForm(t, "/revoke", url.Values{"token": {access}, "client_assertion_type": {issuer.ClientAssertionType},
		"client_assertion": {key.assertion(t, "svc", st.srv.URL+"/revoke", "r-1", time.Minute)}}, nil)
	if rr.StatusCode != http.StatusOK {
		t.Fatalf("revoke with private_key_jwt: %d %s", rr.StatusCode, b)
	}
	if got := introspect(access, "i-3"); got["active"] != false {
		t.Errorf("revoked access token introspected as %v", got)
	}
}

// TestLoginPageThrottled checks that the login page shares the login
// throttle: past the account's burst the page answers 429 without checking
// the password.
func TestLoginPageThrottled(t *testing.T) {
	t.Parallel()
	st := newStack(t, stackOptions{throttle: issuer.ThrottleConfig{AccountBurst: 2, AccountEvery: time.Hour}})
	st.addUser(t, "alice", "correct horse battery staple")
	st.addClient(t, keyward.Client{ID: "spa", Public: true, RedirectURIs: []string{callback},
		GrantTypes: []string{issuer.GrantAuthorizationCode}})
	q := url.Values{"response_type": {"code"}, "client_id": {"spa"}, "redirect_uri": {callback},
		"code_challenge": {challenge(newVerifier())}, "code_challenge_method": {"S256"}}
	hc := browser(t, st)
	_, page := get(t, hc, st.srv.URL+"/authorize?"+q.Encode())
	f := loginForm(t, page)
	f.Set("username", "alice")
	want := []int{http.StatusUnauthorized, http.StatusUnauthorized, http.StatusTooManyRequests}
	for n, status := range want {
		f.Set("password", "wrong")
		if n == len(want)-1 {
			f.Set("password", "correct horse battery staple") // refused all the same
		}
		resp, body := postLogin(t, hc, st, f)
		if resp.StatusCode != status {
			t.Fatalf("attempt %d: %d, want %d; body %s", n+1, resp.StatusCode, status, body)
		}
	}
}

// TestUserinfoRefusals checks the RFC 6750 answers of /userinfo.
func TestUserinfoRefusals(t *testing.T) {
	t.Parallel()
	st := newOIDCStack(t)
	noOpenID := st.login(t, "alice", "correct horse battery staple").AccessToken
	for _, tc := range []struct {
		name, auth string
		status     int
		errCode    string
	}{
		{"no token", "", http.StatusUnauthorized, "invalid_request"},
		{"garbage", "Bearer abc.def.ghi", http.StatusUnauthorized, "invalid_token"},
		{"no openid scope", "Bearer " + noOpenID, http.StatusForbidden, "insufficient_scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, b := st.do(t, http.MethodGet, "/userinfo", "", nil, func(r *http.Request) {
				if tc.auth != "" {
					r.Header.Set("Authorization", tc.auth)
				}
			})
			if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("%d %q, want %d with a Bearer challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), tc.status)
			}
			if got := oauthError(t, resp, b); got != tc.errCode {
				t.Fatalf("error %q, want %q", got, tc.errCode)
			}
		})
	}
}

// TestMaxAge covers max_age (OIDC Core §3.1.2.1) with sessions opened 2 s
// earlier on the issuer's fake clock: a session older than max_age (or
// max_age=0) gets the login form again and the ID token's auth_time is
// the time of that fresh login; a young enough session gets a code at once
// with the first login's auth_time; prompt=none with a session too old is
// login_required; a malformed max_age is an invalid_request redirect.
func TestMaxAge(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	st := newStack(t, stackOptions{now: clk.Now, throttle: issuer.ThrottleConfig{AccountBurst: 100, AddressBurst: 100, NetworkBurst: 100}})
	st.addUser(t, "alice", "correct horse battery staple")
	st.addClient(t, keyward.Client{ID: "spa", Public: true, RedirectURIs: []string{callback},
		GrantTypes: []string{issuer.GrantAuthorizationCode}})
	const (
		login = "login" // the login form, then a code
		code  = "code"  // a code without a login
	)
	tests := []struct {
		name   string
		maxAge string // empty: not sent
		prompt string
		want   string // login, code, or the error redirected to the client
	}{
		{name: "no max_age", want: code},
		{name: "session younger than max_age", maxAge: "3600", want: code},
		{name: "session as old as max_age", maxAge: "2", want: code},
		{name: "session older than max_age", maxAge: "1", want: login},
		{name: "max_age=0", maxAge: "0", want: login},
		{name: "max_age beyond any duration", maxAge: "99999999999999999999999", want: code},
		{name: "prompt=none, session too old", maxAge: "1", prompt: "none", want: "login_required"},
		{name: "prompt=none, max_age=0", maxAge: "0", prompt: "none", want: "login_required"},
		{name: "prompt=none, session young enough", maxAge: "3600", prompt: "none", want: code},
		{name: "max_age=abc", maxAge: "abc", want: "invalid_request"},
		{name: "negative max_age", maxAge: "-1", want: "invalid_request"},
		{name: "fractional max_age", maxAge: "1.5", want: "invalid_request"},
		{name: "signed max_age", maxAge: "+5", want: "invalid_request"},
	}
	authorizeURL := func(verifier, maxAge, prompt string) string {
		q := url.Values{"response_type": {"code"}, "client_id": {"spa"}, "redirect_uri": {callback}, "scope": {"openid"},
			"state": {"st"}, "nonce": {"n"}, "code_challenge": {challenge(verifier)}, "code_challenge_method": {"S256"}}
		if maxAge != "" {
			q.Set("max_age", maxAge)
		}
		if prompt != "" {
			q.Set("prompt", prompt)
		}
		return st.srv.URL + "/authorize?" + q.Encode()
	}
	// Every case's browser logs in at the same instant; then the clock
	// moves on 2 s and stays there while the cases run.
	firstLogin := clk.Now()
	browsers := make([]*http.Client, len(tests))
	for i := range tests {
		browsers[i] = browser(t, st)
		_, page := get(t, browsers[i], authorizeURL(newVerifier(), "", ""))
		f := loginForm(t, page)
		f.Set("username", "alice")
		f.Set("password", "correct horse battery staple")
		resp, page := postLogin(t, browsers[i], st, f)
		codeFrom(t, st, resp, page, "st")
	}
	clk.Add(2 * time.Second)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hc, verifier := browsers[i], newVerifier()
			resp, page := get(t, hc, authorizeURL(verifier, tt.maxAge, tt.prompt))
			authTime := firstLogin
			switch tt.want {
			case login:
				if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="password"`) {
					t.Fatalf("status %d, want the login form; body:\n%s", resp.StatusCode, page)
				}
				f := loginForm(t, page)
				if f.Get("max_age") != tt.maxAge {
					t.Errorf("the login form carries max_age %q, want %q", f.Get("max_age"), tt.maxAge)
				}
				f.Set("username", "alice")
				f.Set("password", "correct horse battery staple")
				resp, page = postLogin(t, hc, st, f)
				authTime = clk.Now()
			case code:
			default:
				loc, err := url.Parse(resp.Header.Get("Location"))
				if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), callback) {
					t.Fatalf("status %d to %q, want a redirect to the client; body:\n%s", resp.StatusCode, resp.Header.Get("Location"), page)
				}
				if got := loc.Query().Get("error"); got != tt.want || loc.Query().Get("state") != "st" || loc.Query().Get("code") != "" {
					t.Fatalf("redirected with %s, want error=%s and state=st", loc.RawQuery, tt.want)
				}
				return
			}
			c := codeFrom(t, st, resp, page, "st")
			tr, b := st.postForm(t, "/token", url.Values{"grant_type": {"authorization_code"}, "code": {c},
				"redirect_uri": {callback}, "client_id": {"spa"}, "code_verifier": {verifier}}, nil)
			if tr.StatusCode != http.StatusOK {
				t.Fatalf("token: %d %s", tr.StatusCode, b)
			}
			set, algs := st.keys.KeySet()
			id, err := jose.VerifyJWT(decodeToken(t, tr, b).IDToken, set, algs, &jose.Policy{Issuers: []string{st.srv.URL},
				Audiences: []string{"spa"}, Types: []string{issuer.IDTokenType}, Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			if got, ok := id.Claims.Get("auth_time"); !ok || got != float64(authTime.Unix()) {
				t.Errorf("auth_time %v (present %v), want %d, the time of the last login", got, ok, authTime.Unix())
			}
		})
	}
}

// sessionValue returns the value of the session cookie the browser holds
// for the stack, empty when it holds none.
func sessionValue(tb testing.TB, hc *http.Client, st *stack) string {
	tb.Helper()
	u, err := url.Parse(st.srv.URL)
	if err != nil {
		tb.Fatal(err)
	}
	for _, c := range hc.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			return c.Value
		}
	}
	return ""
}

// TestReLogin covers a login in a browser that already holds a live
// session, reached through prompt=login, through max_age, or by posting the
// login form again. The same user keeps the session: same ID, a later
// auth_time, a new cookie value (the old one names no session any more),
// and one /logout revokes the refresh tokens of both code flows. Another
// user ends the first user's session at once, refresh tokens included, as
// /logout would.
func TestReLogin(t *testing.T) {
	t.Parallel()
	const password = "correct horse battery staple"
	tests := []struct {
		name     string
		second   url.Values // extra parameters of the second authorization request
		resubmit bool       // post the first login form again instead
		user     string     // who logs in the second time
		sqlite   bool
	}{
		{name: "prompt=login", second: url.Values{"prompt": {"login"}}, user: "alice"},
		{name: "prompt=login, sqlite", second: url.Values{"prompt": {"login"}}, user: "alice", sqlite: true},
		{name: "max_age exceeded", second: url.Values{"max_age": {"30"}}, user: "alice"},
		{name: "login form posted again", resubmit: true, user: "alice"},
		{name: "another user", second: url.Values{"prompt": {"login"}}, user: "bob"},
		{name: "another user, sqlite", second: url.Values{"prompt": {"login"}}, user: "bob", sqlite: true},
		{name: "another user, form posted again", resubmit: true, user: "bob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			clk := newFakeClock()
			st := newStack(t, stackOptions{now: clk.Now, sqlite: tt.sqlite, throttle: issuer.ThrottleConfig{InsecureDisableThrottle: true}})
			st.addUser(t, "alice", password)
			st.addUser(t, "bob", password)
			st.addClient(t, keyward.Client{ID: "spa", Public: true, RedirectURIs: []string{callback},
				GrantTypes: []string{issuer.GrantAuthorizationCode, issuer.GrantRefreshToken}})
			authorizeURL := func(verifier string, extra url.Values) string {
				q := url.Values{"response_type": {"code"}, "client_id": {"spa"}, "redirect_uri": {callback}, "scope": {"openid"},
					"state": {"st"}, "code_challenge": {challenge(verifier)}, "code_challenge_method": {"S256"}}
				for k, v := range extra {
					q[k] = v
				}
				return st.srv.URL + "/authorize?" + q.Encode()
			}
			// exchange redeems a code and checks the ID token's auth_time.
			exchange := func(code, verifier string, authTime time.Time) issuer.TokenResponse {
				t.Helper()
				resp, b := st.postForm(t, "/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
					"redirect_uri": {callback}, "client_id": {"spa"}, "code_verifier": {verifier}}, nil)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("token: %d %s", resp.StatusCode, b)
				}
				tok := decodeToken(t, resp, b)
				set, algs := st.keys.KeySet()
				id, err := jose.VerifyJWT(tok.IDToken, set, algs, &jose.Policy{Issuers: []string{st.srv.URL},
					Audiences: []string{"spa"}, Types: []string{issuer.IDTokenType}, Now: clk.Now})
				if err != nil {
					t.Fatal(err)
				}
				if got, ok := id.Claims.Get("auth_time"); !ok || got != float64(authTime.Unix()) {
					t.Errorf("auth_time %v (present %v), want %d", got, ok, authTime.Unix())
				}
				return tok
			}
			// refresh uses a refresh token and returns its successor, or
			// "" when it is refused with invalid_grant.
			refresh := func(rt string) string {
				t.Helper()
				resp, b := st.postForm(t, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"spa"}}, nil)
				if resp.StatusCode == http.StatusOK {
					return decodeToken(t, resp, b).RefreshToken
				}
				if got := oauthError(t, resp, b); got != "invalid_grant" {
					t.Fatalf("refresh: %d %s", resp.StatusCode, b)
				}
				return ""
			}
			sessionOf := func(cookie string) (keyward.Session, error) {
				sum := sha256.Sum256([]byte(cookie))
				return st.store.GetSessionByCookie(ctx, sum[:])
			}

			// The first login.
			hc := browser(t, st)
			v1 := newVerifier()
			_, page := get(t, hc, authorizeURL(v1, nil))
			form := loginForm(t, page)
			form.Set("username", "alice")
			form.Set("password", password)
			resp, page := postLogin(t, hc, st, form)
			firstAuth := clk.Now()
			tok1 := exchange(codeFrom(t, st, resp, page, "st"), v1, firstAuth)
			c1 := sessionValue(t, hc, st)
			first, err := sessionOf(c1)
			if err != nil || first.UserID == "" {
				t.Fatalf("the first session by its cookie's hash: %+v, %v", first, err)
			}
			if first.ID == hex.EncodeToString(first.CookieHash) || strings.Contains(first.ID, c1) {
				t.Errorf("the session ID %q is derived from its cookie", first.ID)
			}

			// The second login, a minute later, in the same browser.
			clk.Add(time.Minute)
			v2 := v1
			if tt.resubmit {
				form.Set("username", tt.user)
				resp, page = postLogin(t, hc, st, form)
			} else {
				v2 = newVerifier()
				resp, page = get(t, hc, authorizeURL(v2, tt.second))
				if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="password"`) {
					t.Fatalf("second authorization request: %d, want the login form; body:\n%s", resp.StatusCode, page)
				}
				f := loginForm(t, page)
				f.Set("username", tt.user)
				f.Set("password", password)
				resp, page = postLogin(t, hc, st, f)
			}
			code2 := codeFrom(t, st, resp, page, "st")
			c2 := sessionValue(t, hc, st)
			if c2 == "" || c2 == c1 {
				t.Fatalf("the session cookie was not replaced by the second login")
			}
			second, err := sessionOf(c2)
			if err != nil || !second.Active(clk.Now()) || !second.AuthTime.Equal(clk.Now()) {
				t.Fatalf("the session of the new cookie: %+v, %v; want active, logged in now", second, err)
			}
			if s, err := sessionOf(c1); err == nil && s.Active(clk.Now()) {
				t.Errorf("the first cookie value still names a live session: %+v", s)
			}
			// The old cookie value is worthless: a browser presenting it is
			// asked to log in.
			stale := browser(t, st)
			u, _ := url.Parse(st.srv.URL)
			stale.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: c1, Path: "/"}})
			if resp, page := get(t, stale, authorizeURL(newVerifier(), nil)); resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="password"`) {
				t.Errorf("the first cookie value: %d to %q, want the login form", resp.StatusCode, resp.Header.Get("Location"))
			}
			tok2 := exchange(code2, v2, clk.Now())

			if tt.user == "alice" {
				if second.ID != first.ID || !second.CreatedAt.Equal(first.CreatedAt) || !second.ExpiresAt.Equal(clk.Now().Add(issuer.SessionTTL)) {
					t.Fatalf("the same user's session %+v, want the first one (%s, created %v) renewed", second, first.ID, first.CreatedAt)
				}
				if _, err := sessionOf(c1); !errors.Is(err, keyward.ErrNotFound) {
					t.Errorf("the first cookie value still names the session: %v", err)
				}
				if n := strings.Count(st.logs.String(), `"msg":"session_started"`); n != 1 {
					t.Errorf("%d sessions started, want 1", n)
				}
				// Logging out with the old cookie value ends nothing.
				if resp, _ := get(t, stale, st.srv.URL+"/logout"); resp.StatusCode != http.StatusOK {
					t.Fatalf("logout with the old cookie: %d", resp.StatusCode)
				}
				rt1 := refresh(tok1.RefreshToken)
				if rt1 == "" {
					t.Fatal("the first flow's refresh token was revoked by the same user's login")
				}
				if code := confirmLogout(t, hc, st); code != http.StatusOK {
					t.Fatalf("logout: %d", code)
				}
				if refresh(rt1) != "" || refresh(tok2.RefreshToken) != "" {
					t.Fatal("a refresh token of the session survived /logout")
				}
				if s, err := st.store.GetSession(ctx, first.ID); err != nil || s.Active(clk.Now()) {
					t.Fatalf("the session after /logout: %+v, %v", s, err)
				}
				return
			}

			// Another user: the first session ended at the second login.
			if second.ID == first.ID || second.UserID == first.UserID {
				t.Fatalf("bob's session %+v reuses alice's %+v", second, first)
			}
			if s, err := st.store.GetSession(ctx, first.ID); err != nil || s.Active(clk.Now()) {
				t.Fatalf("alice's session after bob's login: %+v, %v; want ended", s, err)
			}
			if refresh(tok1.RefreshToken) != "" {
				t.Fatal("alice's refresh token survived bob's login")
			}
			if refresh(tok2.RefreshToken) == "" {
				t.Fatal("bob's refresh token was refused")
			}
		})
	}
}
