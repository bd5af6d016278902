package main

import (
	"path/filepath"
	"testing"
	"time"
)

// TestUserCommandsReachGate runs the real "keyward serve" on SQLite, a gate
// following its /revocations every second, and the user commands on the
// same data directory: after "user passwd" and after "user delete" the
// gate refuses the access tokens the user already held, within the poll
// bound, while another user's token still passes.
func TestUserCommandsReachGate(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs serve and waits on the revocation poll")
	}
	data := filepath.Join(t.TempDir(), "data")
	const iss = "http://issuer.test"
	srv := startServe(t, nil, "--data", data, "--issuer", iss)
	with := func(args ...string) []string { return append(args, "--data", data) }
	for _, name := range []string{"alice", "bob", "carol"} {
		if r := (invocation{stdin: "the password of " + name + "\n"}).kw(t, with("user", "add", name, "--password-stdin")...); r.code != 0 {
			t.Fatalf("user add %s: %d %s", name, r.code, r.stderr)
		}
	}
	gateURL, logs, stop := startGateCmd(t, nil,
		"--jwks-url", srv.url("/jwks.json"), "--issuer", iss, "--audience", "api",
		"--token-type", "at+jwt", "--revocations", srv.url("/revocations"), "--revocations-every", "1s")
	defer func() {
		if code := stop(); code != 0 {
			t.Errorf("gate exited with %d: %s", code, logs)
		}
	}()
	alice := srv.login(t, "alice", "the password of alice").AccessToken
	bob := srv.login(t, "bob", "the password of bob").AccessToken
	carol := srv.login(t, "carol", "the password of carol").AccessToken
	for _, tok := range []string{alice, bob, carol} {
		if code, _, body := httpGet(t, gateURL+"/protected", tok); code != 200 {
			t.Fatalf("the gate refused a valid token: %d %s", code, body)
		}
	}

	if r := (invocation{stdin: "a new password for alice\n"}).kw(t, with("user", "passwd", "alice", "--password-stdin")...); r.code != 0 {
		t.Fatalf("user passwd: %d %s", r.code, r.stderr)
	}
	d := refusedWithin(t, gateURL, 5*time.Second, alice)
	t.Logf("after passwd, the gate refused the old token %v later", d.Round(time.Millisecond))

	mustRun(t, with("user", "delete", "bob")...)
	d = refusedWithin(t, gateURL, 5*time.Second, bob)
	t.Logf("after delete, the gate refused the token %v later", d.Round(time.Millisecond))

	if code, _, body := httpGet(t, gateURL+"/protected", carol); code != 200 {
		t.Fatalf("the gate refused another user's token: %d %s", code, body)
	}
}
