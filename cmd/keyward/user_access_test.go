package main

import (
	"crypto/sha256"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/issuer"
)

// TestUserCommandsEndAccess checks that passwd, delete and disable end what
// the user holds: the browser session, the refresh tokens, and (through a
// user cutoff in the revocation feed) the access tokens already issued;
// passwd --keep-sessions keeps them.
func TestUserCommandsEndAccess(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		stdin   string
		deleted bool
		ended   bool
	}{
		{name: "passwd", args: []string{"user", "passwd", "erin", "--password-stdin"}, stdin: "a-new-password-for-erin\n", ended: true},
		{name: "passwd --keep-sessions", args: []string{"user", "passwd", "erin", "--password-stdin", "--keep-sessions"}, stdin: "a-new-password-for-erin\n"},
		{name: "delete", args: []string{"user", "delete", "erin"}, deleted: true, ended: true},
		{name: "disable", args: []string{"user", "disable", "erin"}, ended: true},
		{name: "set --disable", args: []string{"user", "set", "erin", "--disable"}, ended: true},
		{name: "set --role", args: []string{"user", "set", "erin", "--role", "auditor"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data := storeArgs(t)
			mustRun(t, append([]string{"user", "add", "erin"}, data...)...)
			store := openStore(t, data[1])
			ctx := t.Context()
			u, err := store.GetUserByName(ctx, "erin")
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			cookie := sha256.Sum256([]byte("cookie of erin"))
			if err := store.CreateSession(ctx, keyward.Session{ID: "sess-erin", CookieHash: cookie[:], UserID: u.ID, ExpiresAt: now.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			rt := sha256.Sum256([]byte("refresh token of erin"))
			if err := store.CreateRefreshToken(ctx, keyward.RefreshToken{Hash: rt[:], FamilyID: "fam-erin", UserID: u.ID, ClientID: "app", SessionID: "sess-erin", ExpiresAt: now.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}

			if r := (invocation{stdin: tt.stdin}).kw(t, append(tt.args, data...)...); r.code != 0 {
				t.Fatalf("%v: exit %d: %s", tt.args, r.code, r.stderr)
			}

			cutoffs, err := store.ListUserRevocations(ctx)
			if err != nil {
				t.Fatal(err)
			}
			hasCutoff := slices.ContainsFunc(cutoffs, func(r keyward.UserRevocation) bool {
				return r.UserID == u.ID && !r.Before.Before(now.Truncate(time.Second))
			})
			if hasCutoff != tt.ended {
				t.Errorf("user cutoff in the revocation feed: %v, want %v (%v)", hasCutoff, tt.ended, cutoffs)
			}
			next := sha256.Sum256([]byte("next refresh token"))
			_, rotErr := store.RotateRefreshToken(ctx, rt[:], keyward.RefreshToken{Hash: next[:]}, time.Now())
			s, sessErr := store.GetSession(ctx, "sess-erin")
			switch {
			case tt.deleted:
				if !errors.Is(rotErr, keyward.ErrNotFound) || !errors.Is(sessErr, keyward.ErrNotFound) {
					t.Errorf("after delete: refresh %v, session %v; want both gone", rotErr, sessErr)
				}
			case tt.ended:
				if !errors.Is(rotErr, keyward.ErrRevoked) {
					t.Errorf("refresh after %s: %v, want ErrRevoked", tt.name, rotErr)
				}
				if sessErr != nil || s.RevokedAt.IsZero() {
					t.Errorf("session after %s: %+v, %v; want revoked", tt.name, s, sessErr)
				}
			default:
				if rotErr != nil {
					t.Errorf("refresh after %s: %v, want it to rotate", tt.name, rotErr)
				}
				if sessErr != nil || !s.RevokedAt.IsZero() {
					t.Errorf("session after %s: %+v, %v; want it kept", tt.name, s, sessErr)
				}
			}
		})
	}
}

// TestUserSet checks "keyward user set": roles replaced, attributes set and
// removed, enable, and the usage errors.
func TestUserSet(t *testing.T) {
	t.Parallel()
	data := storeArgs(t)
	with := func(args ...string) []string { return append(args, data...) }
	mustRun(t, with("user", "add", "frank", "--role", "reader", "--attr", "team=blue", "--attr", "desk=4")...)
	mustRun(t, with("user", "set", "frank", "--role", "writer", "--role", "admin", "--role", "writer", "--attr", "team=red", "--unset-attr", "desk", "--disable")...)
	store := openStore(t, data[1])
	u, err := store.GetUserByName(t.Context(), "frank")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(u.Roles, []string{"admin", "writer"}) || len(u.Attributes) != 1 || u.Attributes["team"] != "red" || !u.Disabled {
		t.Fatalf("after set: roles %v, attributes %v, disabled %v", u.Roles, u.Attributes, u.Disabled)
	}
	mustRun(t, with("user", "set", "frank", "--enable", "--no-roles")...)
	if u, _ = store.GetUserByName(t.Context(), "frank"); u.Disabled || len(u.Roles) != 0 || u.Attributes["team"] != "red" {
		t.Fatalf("after set --enable --no-roles: %+v", u)
	}
	if ok, err := issuer.VerifyPassword(u.PasswordHash, "wrong"); ok || err != nil {
		t.Fatal("the password hash changed")
	}
	for _, args := range [][]string{
		{"user", "set", "frank"},
		{"user", "set", "frank", "--enable", "--disable"},
		{"user", "set", "frank", "--role", "x", "--no-roles"},
		{"user", "set", "frank", "--attr", "novalue"},
		{"user", "set", "frank", "--attr", "a=1", "--unset-attr", "a"},
	} {
		if r := kw(t, with(args...)...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (bad usage): %s", args, r.code, r.stderr)
		}
	}
	if r := kw(t, with("user", "set", "nobody", "--enable")...); r.code != 1 {
		t.Errorf("set of an unknown user: exit %d, want 1", r.code)
	}
}
