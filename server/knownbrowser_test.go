package server

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/issuer"
)

// TestKnownBrowserThroughThrottle checks the login form's known-browser
// cookie end to end, behind a trusted proxy: a sign-in sets it (HttpOnly,
// SameSite=Lax, long-lived, __Host- on https); an attack spread over many
// client addresses exhausts the account's ceiling, so /login refuses the
// owner from yet another address; the owner's browser, with the cookie,
// still signs in on the form from an attacking address.
func TestKnownBrowserThroughThrottle(t *testing.T) {
	t.Parallel()
	for _, tls := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", tls), func(t *testing.T) {
			t.Parallel()
			st := newStack(t, stackOptions{tls: tls, trustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
				throttle: issuer.ThrottleConfig{AccountBurst: 5, AccountEvery: time.Hour}})
			st.addUser(t, "alice", "correct horse battery staple")
			st.addClient(t, keyward.Client{ID: "spa", Public: true, RedirectURIs: []string{callback},
				GrantTypes: []string{issuer.GrantAuthorizationCode}})
			q := url.Values{"response_type": {"code"}, "client_id": {"spa"}, "redirect_uri": {callback},
				"code_challenge": {challenge(newVerifier())}, "code_challenge_method": {"S256"}}
			hc := browser(t, st)
			signIn := func(from string) *http.Response {
				t.Helper()
				_, page := get(t, hc, st.srv.URL+"/authorize?"+q.Encode()+"&prompt=login")
				f := loginForm(t, page)
				f.Set("username", "alice")
				f.Set("password", "correct horse battery staple")
				req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, st.srv.URL+"/authorize", strings.NewReader(f.Encode()))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", mediaForm)
				req.Header.Set("X-Forwarded-For", from)
				resp, body := send(t, hc, req)
				if resp.StatusCode != http.StatusSeeOther {
					t.Fatalf("sign-in from %s: %d, want 303 to the client\n%s", from, resp.StatusCode, body)
				}
				return resp
			}
			signIn("203.0.113.1")
			name := "keyward_browser"
			if tls {
				name = "__Host-" + name
			}
			u, _ := url.Parse(st.srv.URL)
			var kb *http.Cookie
			for _, c := range hc.Jar.Cookies(u) {
				if c.Name == name {
					kb = c
				}
			}
			if kb == nil {
				t.Fatalf("no %s cookie after a sign-in; jar %v", name, hc.Jar.Cookies(u))
			}

			// The attack, from a new address each time.
			throttled := false
			for n := range 20 {
				resp, _ := st.postForm(t, "/login", url.Values{"username": {"alice"}, "password": {"guess"}}, func(r *http.Request) {
					r.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", n+1))
				})
				if resp.StatusCode == http.StatusTooManyRequests {
					throttled = true
					break
				}
			}
			if !throttled {
				t.Fatal("20 attempts from 20 addresses never reached the account's ceiling of 5")
			}
			resp, _ := st.postForm(t, "/login", url.Values{"username": {"alice"}, "password": {"correct horse battery staple"}}, func(r *http.Request) {
				r.Header.Set("X-Forwarded-For", "192.0.2.77")
			})
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("the owner without the cookie at an exhausted ceiling: %d, want 429", resp.StatusCode)
			}
			signIn("198.51.100.1")
		})
	}
}

// TestSetCookieKnownBrowser checks the attributes of the known-browser
// cookie the login form sets.
func TestSetCookieKnownBrowser(t *testing.T) {
	t.Parallel()
	st := newStack(t, stackOptions{tls: true})
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/authorize", nil)
	srv, err := New(Config{Issuer: st.issuer, Store: st.store})
	if err != nil {
		t.Fatal(err)
	}
	srv.setKnownBrowser(rec, r, "alice")
	cs := rec.Result().Cookies()
	if len(cs) != 1 {
		t.Fatalf("cookies %v, want one", cs)
	}
	c := cs[0]
	if c.Name != "__Host-keyward_browser" || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode ||
		c.Path != "/" || c.Domain != "" || c.MaxAge != int(issuer.KnownBrowserTTL.Seconds()) {
		t.Fatalf("cookie %+v: want __Host-keyward_browser, HttpOnly, Secure, SameSite=Lax, Path=/, no Domain, Max-Age %d",
			c, int(issuer.KnownBrowserTTL.Seconds()))
	}
}
