package main

import (
	"strings"
	"testing"
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
