package issuer

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/keyward/keyward"
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
			f := newFixture(t, b.open(t, clk.Now), clk, func(c *Config) { c.Throttle.InsecureDisableThrottle = true })
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

func TestNormalizeUsername(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
		invalid        bool
	}{
		{name: "already normal", in: "alice", want: "alice"},
		{name: "upper case", in: "Alice", want: "alice"},
		{name: "surrounding spaces", in: "  alice\u00a0", want: "alice"},
		{name: "full width", in: "ａｌｉｃｅ", want: "alice"},
		{name: "ideographic space", in: "\u3000alice", want: "alice"},
		{name: "email", in: "Alice.Smith+tag@Example.COM", want: "alice.smith+tag@example.com"},
		{name: "accented, composed", in: "Zoë", want: "zoë"},
		{name: "accented, decomposed", in: "Zoe\u0308", want: "zoë"},
		{name: "greek", in: "ΣΩΚΡΑΤΗΣ", want: "σωκρατησ"},
		{name: "digits", in: "user42", want: "user42"},
		{name: "longest", in: strings.Repeat("a", MaxUsernameLen), want: strings.Repeat("a", MaxUsernameLen)},
		{name: "empty", in: "", invalid: true},
		{name: "only spaces", in: "   ", invalid: true},
		{name: "trailing newline", in: "admin\n", invalid: true},
		{name: "inner newline", in: "ad\nmin", invalid: true},
		{name: "tab", in: "ad\tmin", invalid: true},
		{name: "NUL", in: "admin\x00", invalid: true},
		{name: "DEL", in: "admin\x7f", invalid: true},
		{name: "C1 control", in: "admin\u0085", invalid: true},
		{name: "inner space", in: "ad min", invalid: true},
		{name: "symbol", in: "admin☃", invalid: true},
		{name: "zero-width space", in: "ad\u200bmin", invalid: true},
		{name: "right-to-left override", in: "admin\u202egpj", invalid: true},
		{name: "invalid UTF-8", in: "adm\xffin", invalid: true},
		{name: "too long", in: strings.Repeat("a", MaxUsernameLen+1), invalid: true},
		{name: "too long once normalised", in: strings.Repeat("ａ", MaxUsernameLen+1), invalid: true},
		{name: "huge", in: strings.Repeat("a", 1<<20), invalid: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := NormalizeUsername(tt.in)
			if tt.invalid {
				if !errors.Is(err, ErrInvalidUsername) {
					t.Fatalf("NormalizeUsername(%q) = %q, %v; want ErrInvalidUsername", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NormalizeUsername(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func FuzzNormalizeUsername(f *testing.F) {
	for _, s := range []string{"alice", "Admin", " admin", "ａｄｍｉｎ", "admin\n", "Zoe\u0308", "ΣΩΚΡΑΤΗΣ", "a@b.c", "ǅ", "ﬃ", "İstanbul", "\u0130", "x\u200dy", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := NormalizeUsername(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidUsername) {
				t.Fatalf("NormalizeUsername(%q): %v, not ErrInvalidUsername", in, err)
			}
			return
		}
		if got == "" || len(got) > MaxUsernameLen || !utf8.ValidString(got) || strings.ContainsFunc(got, unicode.IsControl) || strings.ContainsFunc(got, unicode.IsSpace) {
			t.Fatalf("NormalizeUsername(%q) = %q", in, got)
		}
		again, err := NormalizeUsername(got)
		if err != nil || again != got {
			t.Fatalf("NormalizeUsername is not idempotent: %q -> %q -> %q, %v", in, got, again, err)
		}
		if upper, err := NormalizeUsername(strings.ToUpper(got)); err == nil && upper != got && strings.ToLower(strings.ToUpper(got)) == got {
			t.Fatalf("%q and its upper case %q normalise apart, to %q", got, strings.ToUpper(got), upper)
		}
	})
}

// legacyStore returns a store holding users created before names were
// normalised.
func legacyStore(t *testing.T, b backend) keyward.Store {
	t.Helper()
	store := b.open(t, newClock().Now)
	for _, name := range []string{"Bob", "Carol", "carol", "DAVE", "Dave", "eve frank", "zed", "ＧＲＡＣＥ"} {
		if err := store.CreateUser(t.Context(), keyward.User{ID: "id-" + name, Username: name, PasswordHash: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	return store
}

func TestLookupUser(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			store := legacyStore(t, b)
			tests := []struct{ typed, wantID string }{
				{"zed", "id-zed"},
				{"ZED", "id-zed"},
				{"Bob", "id-Bob"},             // stored as typed, not yet renamed
				{"eve frank", "id-eve frank"}, // no normalised form: found as stored
				{"Carol", "id-carol"},         // the normalised form wins
				{"carol", "id-carol"},
				{"bob", ""}, // not renamed yet
				{"Eve Frank", ""},
				{"zed\n", ""},
			}
			for _, tt := range tests {
				u, err := LookupUser(t.Context(), store, tt.typed)
				switch {
				case tt.wantID == "" && !errors.Is(err, keyward.ErrNotFound):
					t.Errorf("LookupUser(%q) = %q, %v; want ErrNotFound", tt.typed, u.ID, err)
				case tt.wantID != "" && (err != nil || u.ID != tt.wantID):
					t.Errorf("LookupUser(%q) = %q, %v; want %q", tt.typed, u.ID, err, tt.wantID)
				}
			}
		})
	}
}

func TestNormalizeStoredUsernames(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			store := legacyStore(t, b)
			m, err := NormalizeStoredUsernames(ctx, store)
			if err != nil {
				t.Fatal(err)
			}
			wantRenamed := []UsernameRename{{UserID: "id-Bob", From: "Bob", To: "bob"}, {UserID: "id-ＧＲＡＣＥ", From: "ＧＲＡＣＥ", To: "grace"}}
			if !slices.Equal(m.Renamed, wantRenamed) {
				t.Errorf("renamed %v, want %v", m.Renamed, wantRenamed)
			}
			problems := map[string]error{}
			for _, p := range m.Problems {
				problems[p.UserID] = p.Err
			}
			for id, want := range map[string]error{"id-Carol": keyward.ErrConflict, "id-DAVE": keyward.ErrConflict, "id-Dave": keyward.ErrConflict, "id-eve frank": ErrInvalidUsername} {
				if !errors.Is(problems[id], want) {
					t.Errorf("problem of %s: %v, want %v", id, problems[id], want)
				}
			}
			if len(problems) != 4 {
				t.Errorf("problems %v, want 4", m.Problems)
			}
			// Nothing was merged or lost: every user is still there, under
			// its name or its normalised name.
			users, err := store.ListUsers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, u := range users {
				names = append(names, u.Username)
			}
			want := []string{"Carol", "DAVE", "Dave", "bob", "carol", "eve frank", "grace", "zed"}
			if !slices.Equal(names, want) {
				t.Errorf("names after the migration %q, want %q", names, want)
			}
			// A second run changes nothing and reports the same problems.
			again, err := NormalizeStoredUsernames(ctx, store)
			if err != nil || len(again.Renamed) != 0 || len(again.Problems) != len(m.Problems) {
				t.Errorf("second run: %+v, %v; want no rename and the same problems", again, err)
			}
			// A name that reads as a user's stored before normalisation is
			// not a new account either.
			for _, name := range []string{"BOB", "dave", "Grace"} {
				if _, err := NewUser(ctx, store, name, "a-long-enough-password", nil, nil, testPassword, nil); !errors.Is(err, keyward.ErrConflict) {
					t.Errorf("NewUser(%q) = %v, want ErrConflict", name, err)
				}
			}
		})
	}
}
