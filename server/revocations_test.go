package server

import (
	"net/http"
	"strconv"
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

// TestRevocationFeedDelta covers GET /revocations?since=: the full state
// with its cursor at 0, then the changes since a cursor, answers cut at
// MaxRevocationChanges, the full state again for a cursor compacted away or
// unknown, and malformed cursors.
func TestRevocationFeedDelta(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	ctx := t.Context()
	get := func(t *testing.T, query string) (int, verifier.RevocationFeed) {
		t.Helper()
		resp, b := s.do(t, http.MethodGet, "/revocations?"+query, "", nil, nil)
		var f verifier.RevocationFeed
		if resp.StatusCode == http.StatusOK {
			if err := json.Unmarshal(b, &f); err != nil {
				t.Fatalf("%v: %s", err, b)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
		}
		return resp.StatusCode, f
	}
	exp := time.Now().Add(time.Hour)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.store.RevokeAccessToken(ctx, keyward.RevokedToken{JTI: "j-1", ExpiresAt: exp}))
	must(s.store.RevokeGrant(ctx, keyward.RevokedGrant{Kind: keyward.GrantFamily, ID: "f-1", ExpiresAt: exp}))

	code, f := get(t, "since=0")
	if code != http.StatusOK || !f.Full || f.Cursor != "2" || f.More || len(f.Tokens) != 1 || len(f.Families) != 1 {
		t.Fatalf("since=0: %d %+v, want the full state at cursor 2", code, f)
	}
	code, f = get(t, "since=2")
	if code != http.StatusOK || f.Full || f.Cursor != "2" || len(f.Tokens)+len(f.Sessions)+len(f.Families)+len(f.Users) != 0 {
		t.Fatalf("since=2 with no change: %d %+v, want no entries at cursor 2", code, f)
	}
	must(s.store.RevokeGrant(ctx, keyward.RevokedGrant{Kind: keyward.GrantSession, ID: "s-1", ExpiresAt: exp}))
	must(s.store.RevokeUser(ctx, keyward.UserRevocation{UserID: "u-1", Before: time.Now().Add(-48 * time.Hour)}))
	must(s.store.RevokeAccessToken(ctx, keyward.RevokedToken{JTI: "j-expired", ExpiresAt: time.Now().Add(-time.Minute)}))
	code, f = get(t, "since=2")
	if code != http.StatusOK || f.Full || f.Cursor != "5" || len(f.Tokens) != 0 || len(f.Families) != 0 ||
		len(f.Sessions) != 1 || f.Sessions[0].SID != "s-1" || f.Sessions[0].Exp < exp.Unix() ||
		len(f.Users) != 1 || f.Users[0].Sub != "u-1" {
		t.Fatalf("since=2: %d %+v, want session s-1 and user u-1 (the expired jti skipped) at cursor 5", code, f)
	}

	// A cursor past the head (another store) gets the full state.
	if code, f = get(t, "since=99"); code != http.StatusOK || !f.Full || f.Cursor != "5" || len(f.Sessions) != 1 {
		t.Fatalf("since=99: %d %+v, want the full state at cursor 5", code, f)
	}
	// A swept cutoff raises the floor: a cursor below it gets the full
	// state, one at it the changes.
	if _, err := s.store.DeleteUserRevocations(ctx, time.Now().Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if code, f = get(t, "since=3"); code != http.StatusOK || !f.Full || len(f.Users) != 0 {
		t.Fatalf("since=3 below the floor: %d %+v, want the full state without the swept cutoff", code, f)
	}
	if code, f = get(t, "since=4"); code != http.StatusOK || f.Full || f.Cursor != "5" {
		t.Fatalf("since=4 at the floor: %d %+v, want the changes", code, f)
	}

	// A backlog comes in answers of MaxRevocationChanges.
	for i := range MaxRevocationChanges + 1 {
		must(s.store.RevokeGrant(ctx, keyward.RevokedGrant{Kind: keyward.GrantFamily, ID: "g-" + strconv.Itoa(i), ExpiresAt: exp}))
	}
	code, f = get(t, "since=5")
	if want := strconv.Itoa(5 + MaxRevocationChanges); code != http.StatusOK || !f.More || f.Cursor != want || len(f.Families) != MaxRevocationChanges {
		t.Fatalf("since=5 with a backlog: %d more %v cursor %s, %d families; want more at cursor %s", code, f.More, f.Cursor, len(f.Families), want)
	}
	code, f = get(t, "since="+f.Cursor)
	if code != http.StatusOK || f.More || len(f.Families) != 1 {
		t.Fatalf("the rest of the backlog: %d %+v", code, f)
	}

	for _, q := range []string{"since=", "since=-1", "since=1x", "since=%2B1", "since=1&since=2", "since=1234567890123456789"} {
		if code, _ := get(t, q); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", q, code)
		}
	}
}
