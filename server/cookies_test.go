package server

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

// TestHostCookies checks the cookie names: on an https issuer the session
// and CSRF cookies carry the __Host- prefix (RFC 6265bis §4.1.3.2), so that
// a sibling subdomain, which can set cookies for the parent domain but
// never a __Host- one, cannot plant a session or a CSRF token; a planted
// cookie of the plain name is ignored. On an http issuer (development) the
// plain names stay, since browsers refuse __Host- cookies without Secure.
func TestHostCookies(t *testing.T) {
	t.Parallel()
	const redirect = "http://127.0.0.1:1/cb"
	tests := []struct {
		name    string
		tls     bool
		session string
		csrf    string
	}{
		{name: "https", tls: true, session: "__Host-keyward_session", csrf: "__Host-keyward_csrf"},
		{name: "http", tls: false, session: "keyward_session", csrf: "keyward_csrf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := newStack(t, stackOptions{tls: tt.tls})
			st.addUser(t, "alice", "alice-password-1")
			st.addClient(t, keyward.Client{ID: "app", Name: "App", RedirectURIs: []string{redirect},
				GrantTypes: []string{"authorization_code"}, Scopes: []string{"read"}})
			authorizeURL := st.srv.URL + "/authorize?" + url.Values{"client_id": {"app"}, "redirect_uri": {redirect},
				"response_type": {"code"}, "scope": {"read"}, "state": {"s1"},
				"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGXSywrbZM"}, "code_challenge_method": {"S256"}}.Encode()
			// do sends a request without a cookie jar, with the cookies
			// given, and returns the response and its Set-Cookie names.
			do := func(t *testing.T, method, u string, form url.Values, cookies ...*http.Cookie) (*http.Response, string, map[string]*http.Cookie) {
				t.Helper()
				var body io.Reader
				if form != nil {
					body = strings.NewReader(form.Encode())
				}
				req, err := http.NewRequestWithContext(t.Context(), method, u, body)
				if err != nil {
					t.Fatal(err)
				}
				if form != nil {
					req.Header.Set("Content-Type", mediaForm)
				}
				for _, c := range cookies {
					req.AddCookie(c)
				}
				hc := &http.Client{Transport: st.srv.Client().Transport,
					CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
				resp, err := hc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				set := map[string]*http.Cookie{}
				for _, c := range resp.Cookies() {
					set[c.Name] = c
				}
				return resp, string(b), set
			}

			resp, page, set := do(t, http.MethodGet, authorizeURL, nil)
			csrf := set[tt.csrf]
			if resp.StatusCode != http.StatusOK || csrf == nil {
				t.Fatalf("login page: %d, cookies %v; want 200 and a %s cookie", resp.StatusCode, resp.Cookies(), tt.csrf)
			}
			if csrf.Path != "/" || csrf.Domain != "" || csrf.Secure != tt.tls || !csrf.HttpOnly {
				t.Errorf("CSRF cookie %+v: want Path=/, no Domain, Secure %v, HttpOnly", csrf, tt.tls)
			}
			form := url.Values{}
			for _, m := range hiddenFieldRE.FindAllStringSubmatch(page, -1) {
				form.Set(m[1], m[2])
			}
			form.Set("username", "alice")
			form.Set("password", "alice-password-1")
			resp, body, set := do(t, http.MethodPost, st.srv.URL+"/authorize", form, csrf)
			session := set[tt.session]
			if resp.StatusCode != http.StatusSeeOther || session == nil {
				t.Fatalf("login: %d, cookies %v; want 303 and a %s cookie\n%s", resp.StatusCode, resp.Cookies(), tt.session, body)
			}
			if session.Path != "/" || session.Domain != "" || session.Secure != tt.tls || !session.HttpOnly {
				t.Errorf("session cookie %+v: want Path=/, no Domain, Secure %v, HttpOnly", session, tt.tls)
			}
			// The session cookie under its own name signs the browser in.
			if resp, body, _ := do(t, http.MethodGet, authorizeURL, nil, session); resp.StatusCode != http.StatusFound {
				t.Fatalf("authorize with the session cookie: %d, want 302 to the client\n%s", resp.StatusCode, body)
			}
			if !tt.tls {
				return
			}
			// The same value planted under the plain name, as a sibling
			// subdomain could, signs no one in: the login page is shown.
			planted := &http.Cookie{Name: "keyward_session", Value: session.Value}
			if resp, _, _ := do(t, http.MethodGet, authorizeURL, nil, planted); resp.StatusCode != http.StatusOK {
				t.Errorf("authorize with a planted keyward_session cookie: %d, want 200 (the login page)", resp.StatusCode)
			}
			// A CSRF token planted under the plain name does not pass for
			// the form's.
			plantedCSRF := &http.Cookie{Name: "keyward_csrf", Value: csrf.Value}
			if resp, _, _ := do(t, http.MethodPost, st.srv.URL+"/authorize", form, plantedCSRF); resp.StatusCode != http.StatusForbidden {
				t.Errorf("login form with a planted keyward_csrf cookie: %d, want 403", resp.StatusCode)
			}
		})
	}
}
