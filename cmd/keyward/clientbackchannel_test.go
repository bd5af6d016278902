package main

import (
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/keyward/keyward"
)

// TestClientBackchannelFlags covers --backchannel-logout-uri and
// --backchannel-logout-session-required on "client add" and "client set",
// and their metadata names in --json.
func TestClientBackchannelFlags(t *testing.T) {
	t.Parallel()
	data := storeArgs(t)
	with := func(args ...string) []string { return append(args, data...) }
	type shown struct {
		ClientID        string `json:"client_id"`
		URI             string `json:"backchannel_logout_uri"`
		SessionRequired bool   `json:"backchannel_logout_session_required"`
	}
	decode := func(out string) shown {
		t.Helper()
		var s shown
		if err := json.Unmarshal([]byte(out), &s, json.RejectUnknownMembers(false)); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return s
	}
	c := decode(mustRun(t, with("client", "add", "rp", "--redirect-uri", "https://rp.example.com/cb",
		"--backchannel-logout-uri", "https://rp.example.com/bc", "--backchannel-logout-session-required", "--json")...))
	if c.URI != "https://rp.example.com/bc" || !c.SessionRequired {
		t.Fatalf("client add --json = %+v", c)
	}
	for _, uri := range []string{"http://rp.example.com/bc", "https://rp.example.com/bc#x", "rp.example.com/bc"} {
		if r := kw(t, with("client", "add", "bad", "--redirect-uri", "https://rp.example.com/cb", "--backchannel-logout-uri", uri)...); r.code != 1 || !strings.Contains(r.stderr, "back-channel logout URI") {
			t.Errorf("client add --backchannel-logout-uri %s: exit %d, %s", uri, r.code, r.stderr)
		}
	}
	if out := mustRun(t, with("client", "show", c.ClientID)...); !strings.Contains(out, "https://rp.example.com/bc (sid required)") {
		t.Errorf("client show: %s", out)
	}
	// set changes only what it is given.
	got := decode(mustRun(t, with("client", "set", c.ClientID, "--backchannel-logout-uri", "http://127.0.0.1:9/bc", "--json")...))
	if got.URI != "http://127.0.0.1:9/bc" || !got.SessionRequired {
		t.Errorf("client set --backchannel-logout-uri = %+v", got)
	}
	got = decode(mustRun(t, with("client", "set", c.ClientID, "--backchannel-logout-session-required=false", "--json")...))
	if got.URI != "http://127.0.0.1:9/bc" || got.SessionRequired {
		t.Errorf("client set --backchannel-logout-session-required=false = %+v", got)
	}
	if r := kw(t, with("client", "set", c.ClientID, "--backchannel-logout-uri", "http://rp.example.com/bc")...); r.code != 1 {
		t.Errorf("client set with an http URI to another host: exit %d", r.code)
	}
	got = decode(mustRun(t, with("client", "set", c.ClientID, "--backchannel-logout-uri", "", "--json")...))
	if got.URI != "" {
		t.Errorf("client set --backchannel-logout-uri '' = %+v", got)
	}
	if r := kw(t, with("client", "set", c.ClientID)...); r.code != 2 {
		t.Errorf("client set without a change: exit %d, want 2", r.code)
	}
	if r := kw(t, with("client", "set", "nobody", "--backchannel-logout-uri", "")...); r.code != 1 || !strings.Contains(r.stderr, "no client") {
		t.Errorf("client set of an unknown client: exit %d, %s", r.code, r.stderr)
	}
}

// TestUserDisableQueuesBackchannelLogout checks that "user disable", run
// in its own process beside serve, queues in the store the back-channel
// logout of the sessions it ends, for serve to deliver.
func TestUserDisableQueuesBackchannelLogout(t *testing.T) {
	t.Parallel()
	data := storeArgs(t)
	with := func(args ...string) []string { return append(args, data...) }
	mustRun(t, with("user", "add", "alice")...)
	c := mustRun(t, with("client", "add", "rp", "--redirect-uri", "https://rp.example.com/cb", "--backchannel-logout-uri", "https://rp.example.com/bc", "--json")...)
	var client struct {
		ID string `json:"client_id"`
	}
	if err := json.Unmarshal([]byte(c), &client, json.RejectUnknownMembers(false)); err != nil {
		t.Fatal(err)
	}
	store := openStore(t, data[1])
	ctx := t.Context()
	u, err := store.GetUserByName(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateSession(ctx, keyward.Session{ID: "s1", CookieHash: []byte("c"), UserID: u.ID, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := store.AddSessionClient(ctx, "s1", client.ID); err != nil {
		t.Fatal(err)
	}
	mustRun(t, with("user", "disable", "alice")...)
	ls, err := store.ClaimBackchannelLogouts(ctx, time.Now().Add(time.Hour), time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 || ls[0].ClientID != client.ID || ls[0].SessionID != "s1" || ls[0].UserID != u.ID {
		t.Errorf("outbox after user disable = %+v, want the logout of session s1 for %s", ls, client.ID)
	}
}
