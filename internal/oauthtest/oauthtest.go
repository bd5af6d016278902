// Package oauthtest is what the tests of the issuer's browser flows share: a
// user agent that stops at the client's redirect URI, the login form's
// hidden fields, and the code handed back to the client. The server's own
// tests and the interop tests (another module) both drive /authorize with it.
//
// It is for tests only: it fails the test it is given on any error. It
// builds on net/http alone and must never import keyward's own packages, so
// that any test can use it.
package oauthtest

import (
	"crypto/sha256"
	"encoding/base64"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Callback is the redirect URI the tests register for their clients: a
// loopback address where nothing listens, so the user agent must stop
// before following the redirect to it.
const Callback = "http://127.0.0.1:1/callback"

// Browser returns an HTTP client with a cookie jar, over transport, that
// stops at [Callback], as a user agent handing the code to the client would.
func Browser(tb testing.TB, transport http.RoundTripper) *http.Client {
	tb.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return &http.Client{
		Jar:       jar,
		Transport: transport,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), Callback) {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// Get fetches u with hc and returns the response and its body.
func Get(tb testing.TB, hc *http.Client, u string) (*http.Response, string) {
	tb.Helper()
	req, err := http.NewRequestWithContext(tb.Context(), http.MethodGet, u, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return Send(tb, hc, req)
}

// Send sends req with hc and returns the response and its body.
func Send(tb testing.TB, hc *http.Client, req *http.Request) (*http.Response, string) {
	tb.Helper()
	resp, err := hc.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, string(b)
}

// LoginForm reads the hidden fields of the login page; it fails the test
// when the page has no CSRF token.
func LoginForm(tb testing.TB, page string) url.Values {
	tb.Helper()
	f := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(page, -1) {
		f.Set(m[1], html.UnescapeString(m[2]))
	}
	if f.Get("csrf_token") == "" {
		tb.Fatalf("no login form with a CSRF token in:\n%s", page)
	}
	return f
}

// PostLogin submits the login form f to the issuer at base.
func PostLogin(tb testing.TB, hc *http.Client, base string, f url.Values) (*http.Response, string) {
	tb.Helper()
	req, err := http.NewRequestWithContext(tb.Context(), http.MethodPost, base+"/authorize", strings.NewReader(f.Encode()))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return Send(tb, hc, req)
}

// CodeFrom returns the code of a redirect to [Callback], checking that it
// carries state and the issuer iss (RFC 9207).
func CodeFrom(tb testing.TB, iss string, resp *http.Response, body, state string) string {
	tb.Helper()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		tb.Fatalf("status %d, want a redirect to the client; body:\n%s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), Callback) {
		tb.Fatalf("redirected to %q, want %s", resp.Header.Get("Location"), Callback)
	}
	q := loc.Query()
	if q.Get("state") != state || q.Get("iss") != iss {
		tb.Fatalf("redirect state %q iss %q, want %q %q", q.Get("state"), q.Get("iss"), state, iss)
	}
	if q.Get("code") == "" {
		tb.Fatalf("no code in %s", loc)
	}
	return q.Get("code")
}

// Challenge is the S256 code_challenge of a PKCE verifier (RFC 7636 §4.2).
func Challenge(verifier string) string {
	s := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(s[:])
}

// Do sends a request of method to u with hc, the form URL-encoded as its
// body when form is not nil, and returns the response and its body.
func Do(tb testing.TB, hc *http.Client, method, u string, form url.Values) (*http.Response, string) {
	tb.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(tb.Context(), method, u, body)
	if err != nil {
		tb.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return Send(tb, hc, req)
}
