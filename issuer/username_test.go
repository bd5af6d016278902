package issuer

import (
	"strings"
	"testing"
)

// spoofingNames look like "admin" to a person reading a list of accounts.
var spoofingNames = []struct {
	name, username string
}{
	{"upper case", "Admin"},
	{"leading space", " admin"},
	{"full width", "ａｄｍｉｎ"},
	{"newline", "admin\n"},
	{"inner newline", "ad\nmin"},
	{"all capitals", "ADMIN"},
}

// TestNewUserSpoofingNames checks that a name which reads as an existing
// user's is never a second account beside it.
func TestNewUserSpoofingNames(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			store := b.open(t, newClock().Now)
			if _, err := NewUser(t.Context(), store, "admin", "a-long-enough-password", nil, nil, testPassword, nil); err != nil {
				t.Fatal(err)
			}
			for _, tt := range spoofingNames {
				if _, err := NewUser(t.Context(), store, tt.username, "another-long-password", nil, nil, testPassword, nil); err == nil {
					t.Errorf("%s: NewUser(%q) created a second account beside admin", tt.name, tt.username)
				}
			}
			users, err := store.ListUsers(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, u := range users {
				names = append(names, u.Username)
			}
			if len(names) != 1 || names[0] != "admin" {
				t.Errorf("usernames = %q, want admin alone", names)
			}
		})
	}
}

// TestLoginNormalizesUsername checks that a login names the account by the
// normalised form of the name typed.
func TestLoginNormalizesUsername(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			f := newFixture(t, b.open(t, clk.Now), clk, func(c *Config) { c.Throttle.Disabled = true })
			alice := f.addUser(t, "alice", "a-long-enough-password", nil)
			for _, typed := range []string{"alice", "Alice", "ALICE", " alice ", "ａｌｉｃｅ"} {
				resp, err := f.issuer.Login(t.Context(), LoginRequest{Username: typed, Password: "a-long-enough-password", RemoteAddr: "192.0.2.1:1234"})
				if err != nil {
					t.Errorf("login as %q: %v", typed, err)
					continue
				}
				if sub := f.verify(t, resp.AccessToken, DefaultAudience).Subject; sub != alice.ID {
					t.Errorf("login as %q: sub %q, want %q", typed, sub, alice.ID)
				}
			}
			if _, err := f.issuer.Login(t.Context(), LoginRequest{Username: "alice\n", Password: "a-long-enough-password", RemoteAddr: "192.0.2.1:1234"}); oauthCode(err) != CodeInvalidGrant {
				t.Errorf("login as %q: %v, want invalid_grant", "alice\n", err)
			}
		})
	}
}

// TestLoginFailureLogsNoRawUsername checks that a failed login for an
// unknown user, or a throttled one, does not write the name typed to the
// log (it may be a password typed into the wrong field), while a failure
// for a known user names the account by its ID.
func TestLoginFailureLogsNoRawUsername(t *testing.T) {
	t.Parallel()
	const typed = "Tr0ub4dor&3-typed-in-the-wrong-field"
	clk := newClock()
	f := newFixture(t, backends(t)[0].open(t, clk.Now), clk, nil)
	alice := f.addUser(t, "alice", "a-long-enough-password", nil)
	if _, err := f.issuer.Login(t.Context(), LoginRequest{Username: "alice", Password: "wrong password", RemoteAddr: "192.0.2.1:1"}); err == nil {
		t.Fatal("login with a wrong password succeeded")
	}
	// Unknown-user attempts until the throttle answers, within a bound.
	var unknownWant int
	for attempt := 0; ; attempt++ {
		if attempt == 200 {
			t.Fatal("200 attempts at one account from one address were never throttled")
		}
		_, err := f.issuer.Login(t.Context(), LoginRequest{Username: typed, Password: "whatever", RemoteAddr: "192.0.2.1:1"})
		if oauthCode(err) == CodeSlowDown {
			break
		}
		if oauthCode(err) != CodeInvalidGrant {
			t.Fatalf("login as an unknown user: %v, want invalid_grant", err)
		}
		unknownWant++
	}
	logs := f.log.String()
	for _, s := range []string{typed, strings.ToLower(typed)} {
		if strings.Contains(logs, s) {
			t.Errorf("the log holds the name typed, %q:\n%s", s, logs)
		}
	}
	var unknown, throttled, bad int
	for line := range strings.Lines(logs) {
		if !strings.Contains(line, `"msg":"login_failed"`) {
			continue
		}
		switch {
		case strings.Contains(line, `"reason":"unknown_user"`):
			unknown++
			if !strings.Contains(line, `"username_hash":"`) {
				t.Errorf("unknown_user line without username_hash: %s", line)
			}
		case strings.Contains(line, `"reason":"throttled"`):
			throttled++
			if !strings.Contains(line, `"username_hash":"`) {
				t.Errorf("throttled line without username_hash: %s", line)
			}
		case strings.Contains(line, `"reason":"bad_password"`):
			bad++
			if !strings.Contains(line, `"user_id":"`+alice.ID+`"`) {
				t.Errorf("bad_password line without the user's ID: %s", line)
			}
		}
	}
	if unknown != unknownWant || throttled != 1 || bad != 1 {
		t.Errorf("login_failed lines: %d unknown_user, %d throttled, %d bad_password; want %d, 1, 1:\n%s", unknown, throttled, bad, unknownWant, logs)
	}
}
