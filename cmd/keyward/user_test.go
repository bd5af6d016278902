package main

import (
	"bytes"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/issuer"
	"github.com/keyward/keyward/storage/postgres"
)

// TestUserPasswordPolicy checks that "user add" and "user passwd" refuse a
// password that is too short or common, and accept a long random one.
func TestUserPasswordPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		password string
		extra    []string
		ok       bool
		stderr   string
	}{
		{name: "one character", password: "x", stderr: "minimum is 12"},
		{name: "eleven characters", password: "abcdefgh123", stderr: "minimum is 12"},
		{name: "breached", password: "qwerty123456", stderr: "common passwords"},
		{name: "breached, capitalised", password: "Qwerty123456", stderr: "common passwords"},
		{name: "random, 12 characters", password: "v7Kq-2mWz9Lp", ok: true},
		{name: "over 128 characters", password: strings.Repeat("ab", 65), stderr: "maximum is 128"},
		{name: "a lower minimum", password: "g7#kLp2w", extra: []string{"--min-password-length", "8"}, ok: true},
		{name: "a minimum below 8", password: "v7Kq-2mWz9Lp", extra: []string{"--min-password-length", "6"}, stderr: "--min-password-length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data := storeArgs(t)
			for _, cmd := range [][]string{{"user", "add", "alice"}, {"user", "passwd", "bob"}} {
				if cmd[1] == "passwd" {
					mustRun(t, append([]string{"user", "add", "bob"}, data...)...)
				}
				args := append(append(append(cmd, "--password-stdin"), tt.extra...), data...)
				r := invocation{stdin: tt.password + "\n"}.kw(t, args...)
				if tt.ok {
					if r.code != 0 {
						t.Errorf("%s: exit %d: %s", cmd[1], r.code, r.stderr)
					}
					continue
				}
				if r.code == 0 {
					t.Errorf("%s accepted the password %q", cmd[1], tt.password)
				} else if !strings.Contains(r.stderr, tt.stderr) {
					t.Errorf("%s: stderr %q, want it to say %q", cmd[1], r.stderr, tt.stderr)
				}
			}
		})
	}
}

// TestUserAddSpoofingNames checks that "user add" refuses a name that reads
// as an existing user's, and that the other commands find a user by any
// form of its name.
func TestUserAddSpoofingNames(t *testing.T) {
	t.Parallel()
	data := storeArgs(t)
	mustRun(t, append([]string{"user", "add", "admin"}, data...)...)
	for _, name := range []string{"Admin", " admin", "ａｄｍｉｎ", "admin\n"} {
		if r := kw(t, append([]string{"user", "add", name}, data...)...); r.code == 0 {
			t.Errorf("user add %q created a second account beside admin", name)
		}
	}
	out := mustRun(t, append([]string{"user", "list"}, data...)...)
	if n := strings.Count(out, "\n"); n != 2 {
		t.Errorf("user list shows %d lines, want a header and admin:\n%s", n, out)
	}
	if out := mustRun(t, append([]string{"user", "show", "ADMIN"}, data...)...); !strings.Contains(out, "username:   admin\n") {
		t.Errorf("user show ADMIN:\n%s", out)
	}
}

// TestUserAddGeneratedPasswordFitsPolicy checks that a generated password is
// as long as the policy asks.
func TestUserAddGeneratedPasswordFitsPolicy(t *testing.T) {
	t.Parallel()
	data := storeArgs(t)
	for _, min := range []string{"12", "40", "128"} {
		out := mustRun(t, append([]string{"user", "add", "user" + min, "--min-password-length", min}, data...)...)
		m := regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no password printed:\n%s", out)
		}
		want, _ := strconv.Atoi(min)
		if len(m[1]) < want || len(m[1]) > issuer.MaxPasswordLength {
			t.Errorf("--min-password-length %s: generated %d characters", min, len(m[1]))
		}
		checkPassword(t, openStore(t, data[1]), "user"+min, m[1], true)
	}
}

// TestNormalizeUsernamesLogs checks what serve logs when it brings the names
// of an older store to their normalised form, on SQLite and PostgreSQL.
func TestNormalizeUsernamesLogs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		open func(t *testing.T) ([]string, keyward.Store)
	}{
		{name: "sqlite", open: func(t *testing.T) ([]string, keyward.Store) {
			data := storeArgs(t)
			mustRun(t, append([]string{"user", "list"}, data...)...) // creates the store
			return data, openStore(t, data[1])
		}},
		{name: "postgres", open: func(t *testing.T) ([]string, keyward.Store) {
			dsn := pgtest.DSN(t)
			s, err := postgres.Open(t.Context(), postgres.Config{DSN: dsn})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return []string{"--db", dsn, "--data", t.TempDir()}, s
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args, store := tt.open(t)
			ctx := t.Context()
			for _, name := range []string{"Alice", "Bob", "bob", "eve frank"} {
				if err := store.CreateUser(ctx, keyward.User{ID: "id-" + name, Username: name, PasswordHash: "x"}); err != nil {
					t.Fatal(err)
				}
			}
			var logs bytes.Buffer
			if err := normalizeUsernames(ctx, store, slog.New(slog.NewJSONHandler(&logs, nil))); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{
				`"msg":"username_normalized","user_id":"id-Alice","from":"Alice","to":"alice"`,
				`"msg":"username_not_normalized","user_id":"id-Bob","username":"Bob","normalized":"bob","error":"`,
				`"msg":"username_not_normalized","user_id":"id-eve frank","username":"eve frank","normalized":"","error":"`,
			} {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("the log lacks %s:\n%s", want, logs.String())
				}
			}
			if strings.Count(logs.String(), "\n") != 3 {
				t.Errorf("want three lines:\n%s", logs.String())
			}
			// The users keep working under their names, the clashing one
			// under its ID.
			for name, id := range map[string]string{"alice": "id-Alice", "ALICE": "id-Alice", "bob": "id-bob", "Bob": "id-bob", "eve frank": "id-eve frank", "id-Bob": "id-Bob"} {
				r := kw(t, append([]string{"user", "show", name, "--json"}, args...)...)
				if r.code != 0 || !strings.Contains(r.stdout, `"id":"`+id+`"`) {
					t.Errorf("user show %q: exit %d, %s%s; want user %s", name, r.code, r.stdout, r.stderr, id)
				}
			}
		})
	}
}
