package server

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/issuer"
)

// byeURI is the post-logout redirect URI the test client registers.
const byeURI = "http://127.0.0.1:1/bye?from=keyward"

// logoutStack is a stack with alice signed in at the client "rp" in a
// browser: her session cookie, ID token and refresh token.
type logoutStack struct {
	*stack
	clk     *fakeClock
	hc      *http.Client
	cookie  string
	idToken string
	refresh string
}

// newLogoutStack signs alice in at "rp" (openid, code flow with PKCE) and
// redeems the code; clients "rp" and "other" register byeURI and a second
// URI as post-logout redirect URIs.
func newLogoutStack(t *testing.T) *logoutStack {
	t.Helper()
	clk := newFakeClock()
	st := newStack(t, stackOptions{now: clk.Now, throttle: issuer.ThrottleConfig{InsecureDisableThrottle: true}})
	st.addUser(t, "alice", "correct horse battery staple")
	st.addUser(t, "bob", "correct horse battery staple")
	grants := []string{issuer.GrantAuthorizationCode, issuer.GrantRefreshToken}
	for _, id := range []string{"rp", "other"} {
		st.addClient(t, keyward.Client{ID: id, Name: "Relying party " + id, Public: true, RedirectURIs: []string{callback}, GrantTypes: grants,
			PostLogoutRedirectURIs: []string{byeURI, "https://" + id + ".example.com/bye"}})
	}
	ls := &logoutStack{stack: st, clk: clk, hc: browser(t, st)}
	ls.cookie, ls.idToken, ls.refresh = ls.signIn(t, ls.hc, "alice", "rp")
	return ls
}

// signIn logs user in at client in the browser hc and returns the session
// cookie value, the ID token and the refresh token.
func (ls *logoutStack) signIn(t *testing.T, hc *http.Client, user, client string) (cookie, idToken, refresh string) {
	t.Helper()
	v := newVerifier()
	q := url.Values{"response_type": {"code"}, "client_id": {client}, "redirect_uri": {callback}, "scope": {"openid"},
		"state": {"s"}, "code_challenge": {challenge(v)}, "code_challenge_method": {"S256"}}
	resp, page := get(t, hc, ls.srv.URL+"/authorize?"+q.Encode())
	if resp.StatusCode == http.StatusOK {
		f := loginForm(t, page)
		f.Set("username", user)
		f.Set("password", "correct horse battery staple")
		resp, page = postLogin(t, hc, ls.stack, f)
	}
	code := codeFrom(t, ls.stack, resp, page, "s")
	resp, b := ls.postForm(t, "/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {callback},
		"client_id": {client}, "code_verifier": {v}}, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("code exchange: %d %s", resp.StatusCode, b)
	}
	tok := decodeToken(t, resp, b)
	if tok.IDToken == "" || tok.RefreshToken == "" {
		t.Fatalf("no ID token or refresh token: %s", b)
	}
	return sessionValue(t, hc, ls.stack), tok.IDToken, tok.RefreshToken
}

// alive reports whether alice's session and its refresh token still work.
func (ls *logoutStack) alive(t *testing.T) bool {
	t.Helper()
	_, err := ls.issuer.Session(t.Context(), ls.cookie)
	if err != nil && !errors.Is(err, issuer.ErrNoSession) {
		t.Fatal(err)
	}
	resp, b := ls.postForm(t, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {ls.refresh}, "client_id": {"rp"}}, nil)
	refreshed := resp.StatusCode == http.StatusOK
	if refreshed {
		ls.refresh = decodeToken(t, resp, b).RefreshToken
	}
	if (err == nil) != refreshed {
		t.Fatalf("session alive %v but refresh token works %v (%d %s)", err == nil, refreshed, resp.StatusCode, b)
	}
	return refreshed
}

// logoutRequest sends a request to /logout from the browser hc without
// following a redirect: a GET with the parameters in the query, a POST
// with them as a form.
func logoutRequest(t *testing.T, ls *logoutStack, hc *http.Client, method string, params url.Values) (*http.Response, string) {
	t.Helper()
	u, body := ls.srv.URL+"/logout", ""
	if method != http.MethodPost {
		u += "?" + params.Encode()
	} else {
		body = params.Encode()
	}
	req, err := http.NewRequestWithContext(t.Context(), method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", mediaForm)
	}
	// A top-level navigation from another site.
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	noFollow := &http.Client{Jar: hc.Jar, Transport: hc.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return send(t, noFollow, req)
}

// TestLogout covers RP-initiated logout (OpenID Connect RP-Initiated Logout
// 1.0) at /logout: only a valid id_token_hint for the browser's session, or
// the CSRF-protected confirmation form, ends the session; the browser goes
// only to a registered post-logout redirect URI.
func TestLogout(t *testing.T) {
	t.Parallel()
	// What a test case sends, given the stack.
	type request func(ls *logoutStack) url.Values
	tests := []struct {
		name   string
		method string
		params request
		// before runs before the request.
		before func(t *testing.T, ls *logoutStack)
		status int
		// location is the redirect wanted, empty for none.
		location string
		// page is a string the page must hold.
		page  string
		ended bool
	}{
		{
			name: "cross-site GET without hint", method: http.MethodGet,
			params: func(*logoutStack) url.Values { return url.Values{} },
			status: http.StatusOK, page: `name="csrf_token"`, ended: false,
		},
		{
			name: "cross-site GET with client and registered URI, no hint", method: http.MethodGet,
			params: func(*logoutStack) url.Values {
				return url.Values{"client_id": {"rp"}, "post_logout_redirect_uri": {byeURI}, "state": {"xyz"}}
			},
			status: http.StatusOK, page: "Relying party rp", ended: false,
		},
		{
			name: "cross-site POST without CSRF token", method: http.MethodPost,
			params: func(*logoutStack) url.Values { return url.Values{"client_id": {"rp"}} },
			status: http.StatusOK, page: `name="csrf_token"`, ended: false,
		},
		{
			name: "confirmation POST with a forged CSRF token", method: http.MethodPost,
			params: func(*logoutStack) url.Values {
				return url.Values{"csrf_token": {strings.Repeat("A", 43)}, "post_logout_redirect_uri": {byeURI}, "client_id": {"rp"}}
			},
			status: http.StatusForbidden, ended: false,
		},
		{
			name: "confirmation POST with the CSRF token", method: http.MethodPost,
			params: func(ls *logoutStack) url.Values {
				return url.Values{"csrf_token": {csrfOf(ls)}, "post_logout_redirect_uri": {byeURI}, "client_id": {"rp"}, "state": {"xyz"}}
			},
			status: http.StatusSeeOther, location: byeURI + "&state=xyz", ended: true,
		},
		{
			name: "confirmation POST with the CSRF token, no URI", method: http.MethodPost,
			params: func(ls *logoutStack) url.Values { return url.Values{"csrf_token": {csrfOf(ls)}} },
			status: http.StatusOK, page: "You are signed out.", ended: true,
		},
		{
			name: "confirmation POST with an unregistered URI", method: http.MethodPost,
			params: func(ls *logoutStack) url.Values {
				return url.Values{"csrf_token": {csrfOf(ls)}, "post_logout_redirect_uri": {"https://evil.example/"}, "client_id": {"rp"}}
			},
			status: http.StatusBadRequest, ended: false,
		},
		{
			name: "GET with hint and registered URI", method: http.MethodGet,
			params: func(ls *logoutStack) url.Values {
				return url.Values{"id_token_hint": {ls.idToken}, "post_logout_redirect_uri": {byeURI}, "state": {"xyz"}, "ui_locales": {"fr"}}
			},
			status: http.StatusFound, location: byeURI + "&state=xyz", ended: true,
		},
		{
			name: "POST with hint, client_id and registered URI", method: http.MethodPost,
			params: func(ls *logoutStack) url.Values {
				return url.Values{"id_token_hint": {ls.idToken}, "client_id": {"rp"}, "post_logout_redirect_uri": {"https://rp.example.com/bye"}}
			},
			status: http.StatusSeeOther, location: "https://rp.example.com/bye", ended: true,
		},
		{
			name: "HEAD with hint and registered URI", method: http.MethodHead,
			params: func(ls *logoutStack) url.Values {
				return url.Values{"id_token_hint": {ls.idToken}, "post_logout_redirect_uri": {byeURI}, "state": {"xyz"}}
			},
			status: http.StatusOK, ended: false,
		},
		{
			name: "GET with hint, no URI", method: http.MethodGet,
			params: func(ls *logoutStack) url.Values { return url.Values{"id_token_hint": {ls.idToken}, "state": {"xyz"}} },
			status: http.StatusOK, page: "You are signed out.", ended: true,
		},
		{
			name: "GET with an expired hint", method: http.MethodGet,
			before: func(t *testing.T, ls *logoutStack) { ls.clk.Add(2 * time.Hour) },
			params: func(ls *logoutStack) url.Values {
				return url.Values{"id_token_hint": {ls.idToken}, "post_logout_redirect_uri": {byeURI}}
			},
			status: http.StatusFound, location: byeURI, ended: true,
		},
		{
			name: "GET with hint and an unregistered URI", method: http.MethodGet,
			params: func(ls *logoutStack) url.Values {
				return url.Values{"id_token_hint": {ls.idToken}, "post_logout_redirect_uri": {"https://evil.example/"}, "state": {"xyz"}}
			},
			status: http.StatusBadRequest, ended: false,
		},
		{
			name: "GET with hint and another client's URI", method: http.MethodGet,
			params: func(ls *logoutStack) url.Values {
				return url.Values{"id_token_hint": {ls.idToken}, "post_logout_redirect_uri": {"https://other.example.com/bye"}}
			},
			status: http.StatusBadRequest, ended: false,
		},
		{
			name: "GET with hint and a registered URI changed in case", method: http.MethodGet,
			params: func(ls *logoutStack) url.Values {
				return url.Values{"id_token_hint": {ls.idToken}, "post_logout_redirect_uri": {"https://RP.example.com/bye"}}
			},
			status: http.StatusBadRequest, ended: false,
		},
		{
			name: "GET with hint and a client_id it was not issued to", method: http.MethodGet,
			params: func(ls *logoutStack) url.Values {
				return url.Values{"id_token_hint": {ls.idToken}, "client_id": {"other"}, "post_logout_redirect_uri": {byeURI}}
			},
			status: http.StatusBadRequest, ended: false,
		},
		{
			name: "GET with a URI and neither client nor hint", method: http.MethodGet,
			params: func(*logoutStack) url.Values { return url.Values{"post_logout_redirect_uri": {byeURI}} },
			status: http.StatusBadRequest, ended: false,
		},
		{
			name: "GET with an unknown client", method: http.MethodGet,
			params: func(*logoutStack) url.Values { return url.Values{"client_id": {"nobody"}} },
			status: http.StatusBadRequest, ended: false,
		},
		{
			name: "GET with a tampered hint", method: http.MethodGet,
			params: func(ls *logoutStack) url.Values {
				return url.Values{"id_token_hint": {ls.idToken[:len(ls.idToken)-4] + "AAAA"}, "post_logout_redirect_uri": {byeURI}, "client_id": {"rp"}}
			},
			status: http.StatusOK, page: `name="csrf_token"`, ended: false,
		},
		{
			name: "GET with an access token as hint", method: http.MethodGet,
			params: func(ls *logoutStack) url.Values {
				resp, b := ls.postForm(t, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {ls.refresh}, "client_id": {"rp"}}, nil)
				tok := decodeToken(t, resp, b)
				ls.refresh = tok.RefreshToken
				return url.Values{"id_token_hint": {tok.AccessToken}, "client_id": {"rp"}}
			},
			status: http.StatusOK, page: `name="csrf_token"`, ended: false,
		},
		{
			name: "GET with the hint of another session of the same user", method: http.MethodGet,
			params: func(ls *logoutStack) url.Values {
				_, id, _ := ls.signIn(t, browser(t, ls.stack), "alice", "rp")
				return url.Values{"id_token_hint": {id}, "post_logout_redirect_uri": {byeURI}}
			},
			status: http.StatusOK, page: `name="csrf_token"`, ended: false,
		},
		{
			name: "GET with another user's hint", method: http.MethodGet,
			params: func(ls *logoutStack) url.Values {
				_, id, _ := ls.signIn(t, browser(t, ls.stack), "bob", "rp")
				return url.Values{"id_token_hint": {id}, "post_logout_redirect_uri": {byeURI}}
			},
			status: http.StatusOK, page: `name="csrf_token"`, ended: false,
		},
		{
			name: "GET repeating a parameter", method: http.MethodGet,
			params: func(ls *logoutStack) url.Values {
				return url.Values{"id_token_hint": {ls.idToken}, "post_logout_redirect_uri": {byeURI, "https://evil.example/"}}
			},
			status: http.StatusBadRequest, ended: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ls := newLogoutStack(t)
			if tt.before != nil {
				tt.before(t, ls)
			}
			resp, page := logoutRequest(t, ls, ls.hc, tt.method, tt.params(ls))
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d\n%s", resp.StatusCode, tt.status, page)
			}
			if got := resp.Header.Get("Location"); got != tt.location {
				t.Errorf("Location %q, want %q", got, tt.location)
			}
			if tt.page != "" && !strings.Contains(page, tt.page) {
				t.Errorf("the page lacks %q:\n%s", tt.page, page)
			}
			if alive := ls.alive(t); alive == tt.ended {
				t.Errorf("session and refresh token alive %v, want %v", alive, !tt.ended)
			}
		})
	}
}

// csrfOf returns the CSRF token the browser of ls holds from its login
// page.
func csrfOf(ls *logoutStack) string {
	u, _ := url.Parse(ls.srv.URL)
	for _, c := range ls.hc.Jar.Cookies(u) {
		if c.Name == csrfCookie {
			return c.Value
		}
	}
	return ""
}

// TestLogoutConfirmation follows the confirmation page a cross-site GET
// gets: the page's own form, posted back, ends the session and returns to
// the registered URI with state.
func TestLogoutConfirmation(t *testing.T) {
	t.Parallel()
	ls := newLogoutStack(t)
	resp, page := logoutRequest(t, ls, ls.hc, http.MethodGet,
		url.Values{"client_id": {"rp"}, "post_logout_redirect_uri": {byeURI}, "state": {"a b&c"}})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Security-Policy") == "" || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("confirmation page: %d, headers %v\n%s", resp.StatusCode, resp.Header, page)
	}
	if !ls.alive(t) {
		t.Fatal("the confirmation page ended the session")
	}
	f := loginForm(t, page)
	if resp, _ := logoutRequest(t, ls, browser(t, ls.stack), http.MethodPost, f); resp.StatusCode != http.StatusForbidden {
		t.Errorf("the form posted from a browser without the CSRF cookie: %d, want 403", resp.StatusCode)
	}
	if !ls.alive(t) {
		t.Fatal("a post without the CSRF cookie ended the session")
	}
	resp, page = logoutRequest(t, ls, ls.hc, http.MethodPost, f)
	want := byeURI + "&state=a+b%26c"
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
		t.Fatalf("confirmed: %d to %q, want 303 to %q\n%s", resp.StatusCode, resp.Header.Get("Location"), want, page)
	}
	if ls.alive(t) {
		t.Fatal("the session survived the confirmed logout")
	}
	if sessionValue(t, ls.hc, ls.stack) != "" {
		t.Error("the browser still holds the session cookie")
	}
}

// TestDiscoveryEndSession checks the end_session_endpoint of discovery.
func TestDiscoveryEndSession(t *testing.T) {
	t.Parallel()
	st := newStack(t, stackOptions{})
	_, b := st.do(t, http.MethodGet, "/.well-known/openid-configuration", "", nil, nil)
	if !strings.Contains(string(b), `"end_session_endpoint":"`+st.srv.URL+`/logout"`) {
		t.Fatalf("discovery lacks the end_session_endpoint: %s", b)
	}
}

// confirmLogout signs the browser hc out as its user would: GET /logout,
// then the confirmation form posted back. It returns the final status.
func confirmLogout(tb testing.TB, hc *http.Client, st *stack) int {
	tb.Helper()
	resp, page := get(tb, hc, st.srv.URL+"/logout")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `action="/logout"`) {
		return resp.StatusCode
	}
	f := loginForm(tb, page)
	req, err := http.NewRequestWithContext(tb.Context(), http.MethodPost, st.srv.URL+"/logout", strings.NewReader(f.Encode()))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", mediaForm)
	resp, _ = send(tb, hc, req)
	return resp.StatusCode
}
