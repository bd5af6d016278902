package server

import (
	"net/http"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/verifier"
)

func TestRevocationFeed(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	get := func(t *testing.T, etag string) (*http.Response, []byte) {
		t.Helper()
		return s.do(t, http.MethodGet, "/revocations", "", nil, func(r *http.Request) {
			if etag != "" {
				r.Header.Set("If-None-Match", etag)
			}
		})
	}
	feed := func(t *testing.T, b []byte) verifier.RevocationFeed {
		t.Helper()
		var f verifier.RevocationFeed
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		return f
	}

	if resp, _ := s.do(t, http.MethodPost, "/revocations", "", nil, nil); resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /revocations: %d, Allow %q; want 405, GET, HEAD", resp.StatusCode, resp.Header.Get("Allow"))
	}
	resp, b := get(t, "")
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != http.StatusOK || etag == "" || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("empty feed: %d, ETag %q, Cache-Control %q", resp.StatusCode, etag, resp.Header.Get("Cache-Control"))
	}
	if f := feed(t, b); len(f.Tokens) != 0 || len(f.Users) != 0 || f.GeneratedAt == 0 {
		t.Fatalf("empty feed: %s", b)
	}
	if resp, _ := get(t, etag); resp.StatusCode != http.StatusNotModified {
		t.Fatalf("unchanged feed with If-None-Match: %d, want 304", resp.StatusCode)
	}

	// The /revoke endpoint's access-token revocations, and user cutoffs.
	s.addUser(t, "alice", "correct horse")
	tr := s.login(t, "alice", "correct horse")
	resp, b = s.postForm(t, "/revoke", map[string][]string{"token": {tr.AccessToken}}, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d %s", resp.StatusCode, b)
	}
	cutoff := time.Date(2026, 3, 1, 12, 0, 0, 500_000_000, time.UTC)
	if err := s.store.RevokeUser(t.Context(), keyward.UserRevocation{UserID: "user-9", Before: cutoff}); err != nil {
		t.Fatal(err)
	}
	resp, b = get(t, etag)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == etag {
		t.Fatalf("changed feed: %d, ETag %q (was %q)", resp.StatusCode, resp.Header.Get("ETag"), etag)
	}
	f := feed(t, b)
	if len(f.Tokens) != 1 || f.Tokens[0].JTI == "" || f.Tokens[0].Exp <= time.Now().Unix() {
		t.Errorf("tokens = %+v, want the revoked access token", f.Tokens)
	}
	// The cutoff rounds up to the next second, so no token issued before it
	// passes.
	if len(f.Users) != 1 || f.Users[0].Sub != "user-9" || f.Users[0].Before != cutoff.Unix()+1 {
		t.Errorf("users = %+v, want user-9 before %d", f.Users, cutoff.Unix()+1)
	}
}
