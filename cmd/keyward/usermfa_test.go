package main

import (
	"strings"
	"testing"

	"github.com/go-json-experiment/json"

	"github.com/keyward/keyward"
)

// TestUserMFA sets and clears a user's MFA requirement and resets the
// user's second factors, which needs a reason, ends the user's sessions
// and is logged.
func TestUserMFA(t *testing.T) {
	t.Parallel()
	data := storeArgs(t)
	with := func(args ...string) []string { return append(args, data...) }
	mustRun(t, with("user", "add", "alice")...)

	showMFA := func() bool {
		t.Helper()
		var shown map[string]any
		if err := json.Unmarshal([]byte(mustRun(t, with("user", "show", "alice", "--json")...)), &shown); err != nil {
			t.Fatal(err)
		}
		return shown["require_mfa"] == true
	}
	if out := mustRun(t, with("user", "set", "alice", "--require-mfa")...); !strings.Contains(out, "second factor required") || !showMFA() {
		t.Fatalf("user set --require-mfa: %q, require_mfa %v", out, showMFA())
	}
	mustRun(t, with("user", "set", "alice", "--no-require-mfa")...)
	if showMFA() {
		t.Fatalf("require_mfa still set after --no-require-mfa")
	}
	if r := kw(t, with("user", "set", "alice", "--require-mfa", "--no-require-mfa")...); r.code != 2 {
		t.Errorf("both flags: exit %d, want 2", r.code)
	}

	// Give alice factors and a session, then reset.
	var userID string
	err := withStore(t.Context(), &storeFlags{data: data[1], lookupEnv: func(string) (string, bool) { return "", false }}, func(s keyward.Store) error {
		u, err := s.GetUserByName(t.Context(), "alice")
		if err != nil {
			return err
		}
		userID = u.ID
		if err := s.PutTOTP(t.Context(), keyward.TOTP{UserID: u.ID, Secret: []byte("sealed")}); err != nil {
			return err
		}
		if err := s.SetRecoveryCodes(t.Context(), u.ID, []keyward.RecoveryCode{{Hash: []byte("h")}}); err != nil {
			return err
		}
		if err := s.CreatePasskey(t.Context(), keyward.Passkey{ID: []byte("credential"), UserID: u.ID, PublicKey: []byte{1}}); err != nil {
			return err
		}
		return s.CreateSession(t.Context(), keyward.Session{ID: "s1", CookieHash: []byte("c"), UserID: u.ID, ExpiresAt: t0.Add(1e12)})
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := kw(t, with("user", "mfa", "reset", "alice")...); r.code != 2 || !strings.Contains(r.stderr, "--reason") {
		t.Fatalf("reset without a reason: exit %d, stderr %q", r.code, r.stderr)
	}
	r := kw(t, with("user", "mfa", "reset", "alice", "--reason", "lost phone, ticket 7")...)
	if r.code != 0 || !strings.Contains(r.stderr, "mfa_reset") || !strings.Contains(r.stderr, "ticket 7") || !strings.Contains(r.stderr, userID) {
		t.Fatalf("reset: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	err = withStore(t.Context(), &storeFlags{data: data[1], lookupEnv: func(string) (string, bool) { return "", false }}, func(s keyward.Store) error {
		if _, err := s.GetTOTP(t.Context(), userID); err == nil {
			t.Errorf("TOTP kept after the reset")
		}
		if n, _ := s.CountRecoveryCodes(t.Context(), userID); n != 0 {
			t.Errorf("%d recovery codes kept after the reset", n)
		}
		if pks, _ := s.ListPasskeys(t.Context(), userID); len(pks) != 0 {
			t.Errorf("%d passkeys kept after the reset", len(pks))
		}
		if sess, _ := s.GetSession(t.Context(), "s1"); sess.RevokedAt.IsZero() {
			t.Errorf("session still active after the reset")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := kw(t, with("user", "mfa", "reset", "nobody", "--reason", "x")...); r.code == 0 {
		t.Errorf("reset of an unknown user succeeded")
	}
}
