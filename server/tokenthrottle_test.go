package server

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
)

// TestTokenThrottleOverHTTP checks the answer of a throttled refresh and
// revocation: 429 with Retry-After in seconds (RFC 6585 §4) and the RFC
// 6749 §5.2 body {"error":"slow_down"}, as a throttled login answers.
func TestTokenThrottleOverHTTP(t *testing.T) {
	t.Parallel()
	st := newStack(t, stackOptions{})
	st.addUser(t, "alice", "pw-alice-1-long")
	rt := st.login(t, "alice", "pw-alice-1-long").RefreshToken
	check := func(what string, resp *http.Response, b []byte) {
		t.Helper()
		ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if resp.StatusCode != http.StatusTooManyRequests || oauthError(t, resp, b) != "slow_down" || err != nil || ra < 1 || ra > 60 {
			t.Fatalf("%s: %d %s Retry-After %q, want 429 slow_down with 1..60", what, resp.StatusCode, b, resp.Header.Get("Retry-After"))
		}
	}
	for n := 0; ; n++ {
		resp, b := st.postForm(t, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, nil)
		if resp.StatusCode == http.StatusOK {
			if n == 10 {
				t.Fatal("11 refreshes of one family at one instant, all answered 200")
			}
			rt = decodeToken(t, resp, b).RefreshToken
			continue
		}
		check("refresh", resp, b)
		break
	}
	resp, b := st.postForm(t, "/revoke", url.Values{"token": {rt}}, nil)
	check("revoke", resp, b)
}
