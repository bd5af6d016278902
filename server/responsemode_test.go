package server

import (
	"crypto/sha256"
	"encoding/base64"
	"html"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/oauthtest"
)

// formActionRE and scriptRE read the form_post page.
var (
	formActionRE = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
	scriptRE     = regexp.MustCompile(`<script>([^<]*)</script>`)
)

// TestResponseMode checks response_mode at /authorize: query (the default)
// redirects with the parameters in the query; form_post answers a page
// whose form posts them to the redirect URI, submitted by the one script
// its Content-Security-Policy allows, whether the browser had a session
// or logged in on the way; any other mode is refused with invalid_request
// in the query. Discovery lists the two supported modes.
func TestResponseMode(t *testing.T) {
	t.Parallel()
	st := newStack(t, stackOptions{})
	st.addUser(t, "alice", "alice-password-1")
	const redirect = "http://127.0.0.1:1/cb"
	st.addClient(t, keyward.Client{ID: "app", Name: "App", RedirectURIs: []string{redirect},
		GrantTypes: []string{"authorization_code"}, Scopes: []string{"read"}})

	resp, b := st.do(t, http.MethodGet, "/.well-known/openid-configuration", "", nil, nil)
	var meta struct {
		Modes []string `json:"response_modes_supported"`
	}
	if err := json.Unmarshal(b, &meta, json.RejectUnknownMembers(false)); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("discovery: %d %v %s", resp.StatusCode, err, b)
	}
	if strings.Join(meta.Modes, " ") != "query form_post" {
		t.Errorf("response_modes_supported = %q, want [query form_post]", meta.Modes)
	}

	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Jar: jar, Transport: st.srv.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	browse := func(t *testing.T, method, u string, form url.Values) (*http.Response, string) {
		t.Helper()
		return oauthtest.Do(t, hc, method, u, form)
	}
	authorize := func(mode, scope string) string {
		q := url.Values{"client_id": {"app"}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {scope},
			"state": {"s&1"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGXSywrbZM"}, "code_challenge_method": {"S256"}}
		if mode != "" {
			q.Set("response_mode", mode)
		}
		return st.srv.URL + "/authorize?" + q.Encode()
	}
	// formPost checks a form_post page and returns its fields.
	formPost := func(t *testing.T, resp *http.Response, page string) url.Values {
		t.Helper()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Location") != "" {
			t.Fatalf("status %d, Location %q; want 200 and a form:\n%s", resp.StatusCode, resp.Header.Get("Location"), page)
		}
		if m := formActionRE.FindStringSubmatch(page); m == nil || html.UnescapeString(m[1]) != redirect {
			t.Fatalf("form action %q, want %s:\n%s", m, redirect, page)
		}
		m := scriptRE.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no script submits the form:\n%s", page)
		}
		sum := sha256.Sum256([]byte(m[1]))
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") ||
			!strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("Content-Security-Policy %q does not allow exactly the page's script %q", csp, m[1])
		}
		if resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control %q, want no-store", resp.Header.Get("Cache-Control"))
		}
		fields := url.Values{}
		for _, m := range hiddenFieldRE.FindAllStringSubmatch(page, -1) {
			fields.Set(m[1], html.UnescapeString(m[2]))
		}
		if fields.Get("state") != "s&1" || fields.Get("iss") != st.srv.URL {
			t.Errorf("form fields %v: want state s&1 and iss %s", fields, st.srv.URL)
		}
		return fields
	}

	// Logging in on the way: the login form carries response_mode.
	resp, page := browse(t, http.MethodGet, authorize("form_post", "read"), nil)
	form := url.Values{}
	for _, m := range hiddenFieldRE.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	if resp.StatusCode != http.StatusOK || form.Get("response_mode") != "form_post" {
		t.Fatalf("login page: %d, fields %v; want response_mode carried", resp.StatusCode, form)
	}
	form.Set("username", "alice")
	form.Set("password", "alice-password-1")
	resp, page = browse(t, http.MethodPost, st.srv.URL+"/authorize", form)
	if f := formPost(t, resp, page); f.Get("code") == "" {
		t.Errorf("form_post after the login: no code in %v", f)
	}

	// With the session.
	resp, page = browse(t, http.MethodGet, authorize("form_post", "read"), nil)
	if f := formPost(t, resp, page); f.Get("code") == "" || f.Has("error") {
		t.Errorf("form_post with a session: fields %v, want a code", f)
	}
	resp, page = browse(t, http.MethodGet, authorize("form_post", "write"), nil)
	if f := formPost(t, resp, page); f.Get("error") != "invalid_scope" || f.Has("code") {
		t.Errorf("form_post of an error: fields %v, want error=invalid_scope", f)
	}

	// query, named or by default.
	for _, mode := range []string{"", "query"} {
		resp, page = browse(t, http.MethodGet, authorize(mode, "read"), nil)
		loc, err := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), redirect+"?") || loc.Query().Get("code") == "" {
			t.Errorf("response_mode %q: %d, Location %q; want a redirect with the code in the query\n%s", mode, resp.StatusCode, loc, page)
		}
	}

	// A native app's private-use scheme gets no form: the refusal goes in
	// the query.
	st.addClient(t, keyward.Client{ID: "native", Public: true, RedirectURIs: []string{"com.example.app:/cb"},
		GrantTypes: []string{"authorization_code"}, Scopes: []string{"read"}})
	resp, page = browse(t, http.MethodGet, strings.Replace(strings.Replace(authorize("form_post", "read"), "client_id=app", "client_id=native", 1),
		"redirect_uri="+url.QueryEscape(redirect), "redirect_uri="+url.QueryEscape("com.example.app:/cb"), 1), nil)
	if loc, err := url.Parse(resp.Header.Get("Location")); resp.StatusCode != http.StatusFound || err != nil ||
		!strings.HasPrefix(loc.String(), "com.example.app:/cb?") || loc.Query().Get("error") != "invalid_request" {
		t.Errorf("form_post to a private-use scheme: %d, Location %q; want a redirect with error=invalid_request\n%s", resp.StatusCode, resp.Header.Get("Location"), page)
	}

	// Any other mode is refused, in the query.
	for _, mode := range []string{"fragment", "form_post.jwt", "query.jwt", "web_message", "FORM_POST"} {
		resp, page = browse(t, http.MethodGet, authorize(mode, "read"), nil)
		loc, err := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), redirect+"?") ||
			loc.Query().Get("error") != "invalid_request" || loc.Query().Has("code") {
			t.Errorf("response_mode %q: %d, Location %q; want a redirect with error=invalid_request\n%s", mode, resp.StatusCode, loc, page)
		}
	}
}
