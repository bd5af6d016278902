package server

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestContinueNeedsARecentSignIn checks the mfa_action=continue of
// /authorize, which goes on with a request right after a factor (the
// button under the recovery codes, the script after a passkey): it issues
// a code only when the session's last authentication is recent and meets
// max_age, so that it cannot skip the login that max_age or prompt=login
// asks of a browser holding an older session.
func TestContinueNeedsARecentSignIn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		elapsed  time.Duration
		extra    url.Values
		wantCode bool
	}{
		{name: "just signed in, max_age=0", elapsed: 0, extra: url.Values{"max_age": {"0"}}, wantCode: true},
		{name: "just signed in", elapsed: 0, wantCode: true},
		{name: "an hour ago, max_age=0", elapsed: time.Hour, extra: url.Values{"max_age": {"0"}}},
		{name: "an hour ago, max_age=600", elapsed: time.Hour, extra: url.Values{"max_age": {"600"}}},
		{name: "an hour ago, prompt=login", elapsed: time.Hour, extra: url.Values{"prompt": {"login"}}},
		{name: "two minutes ago, max_age=0", elapsed: 2 * time.Minute, extra: url.Values{"max_age": {"0"}}},
		{name: "two minutes ago, max_age=300", elapsed: 2 * time.Minute, extra: url.Values{"max_age": {"300"}}, wantCode: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := newMFAStack(t, false)
			hc, verifier := browser(t, st.stack), newVerifier()
			resp, page := st.passwordStep(t, hc, verifier, nil)
			codeFrom(t, st.stack, resp, page, "st")
			st.clk.Add(tc.elapsed)
			// The login page of the request, whose hidden fields a forged
			// continue carries.
			_, page = get(t, hc, st.authorizeURL(verifier, url.Values{"prompt": {"login"}, "max_age": tc.extra["max_age"]}))
			f := loginForm(t, page)
			f.Set("mfa_action", mfaContinue)
			resp, page = do(t, hc, http.MethodPost, st.srv.URL+"/authorize", f)
			loc := resp.Header.Get("Location")
			gotCode := strings.HasPrefix(loc, callback) && strings.Contains(loc, "code=")
			if gotCode != tc.wantCode {
				t.Fatalf("continue: status %d Location %q, want a code: %v; body:\n%s", resp.StatusCode, loc, tc.wantCode, page)
			}
			if !tc.wantCode && !strings.Contains(page, `name="password"`) {
				t.Fatalf("stale continue: status %d, want the login of the request; body:\n%s", resp.StatusCode, page)
			}
		})
	}
}
