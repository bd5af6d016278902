package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// fullUser returns a user with every field set.
func fullUser(n int) keyward.User {
	return keyward.User{
		ID:           id("user", n),
		Username:     id("name", n),
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		Roles:        []string{"admin", "reader"},
		Attributes: map[string]any{
			"email":    id("name", n) + "@example.com",
			"age":      42.5,
			"verified": true,
			"groups":   []any{"a", "b"},
			"address":  map[string]any{"city": "Zürich"},
		},
		Disabled:  true,
		CreatedAt: at(-2 * time.Hour),
		UpdatedAt: at(-time.Hour),
	}
}

// normUser is how a store gives back u.
func normUser(u keyward.User) keyward.User {
	u.CreatedAt = norm(u.CreatedAt)
	u.UpdatedAt = norm(u.UpdatedAt)
	return u
}

func userTests() []testCase {
	return []testCase{
		{name: "User/RoundTrip", run: testUserRoundTrip},
		{name: "User/Defaults", run: testUserDefaults},
		{name: "User/CreateErrors", run: testUserCreateErrors},
		{name: "User/NotFound", run: testUserNotFound},
		{name: "User/List", run: testUserList},
		{name: "User/Update", run: testUserUpdate},
		{name: "User/UpdateErrors", run: testUserUpdateErrors},
		{name: "User/Delete", run: testUserDelete},
	}
}

func testUserRoundTrip(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u := fullUser(1)
	must(t, "CreateUser", s.CreateUser(ctx, u))
	got, err := s.GetUser(ctx, u.ID)
	must(t, "GetUser", err)
	equal(t, "GetUser", got, normUser(u))
	got, err = s.GetUserByName(ctx, u.Username)
	must(t, "GetUserByName", err)
	equal(t, "GetUserByName", got, normUser(u))

	// The caller's values are copied, not aliased.
	u.Roles[0] = "changed"
	u.Attributes["email"] = "changed"
	got.Roles[1] = "changed"
	again, err := s.GetUser(ctx, u.ID)
	must(t, "GetUser", err)
	equal(t, "GetUser after mutating", again, normUser(fullUser(1)))
}

func testUserDefaults(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	before := time.Now().Add(-time.Minute)
	must(t, "CreateUser", s.CreateUser(ctx, keyward.User{ID: "u", Username: "minimal"}))
	got, err := s.GetUser(ctx, "u")
	must(t, "GetUser", err)
	if got.CreatedAt.IsZero() || got.CreatedAt.Before(before) || got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt = %v, want the store's clock in UTC", got.CreatedAt)
	}
	if !got.UpdatedAt.Equal(got.CreatedAt) {
		t.Errorf("UpdatedAt = %v, want CreatedAt %v", got.UpdatedAt, got.CreatedAt)
	}
	want := keyward.User{ID: "u", Username: "minimal", CreatedAt: got.CreatedAt, UpdatedAt: got.UpdatedAt}
	equal(t, "GetUser", got, want)
}

func testUserCreateErrors(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	must(t, "CreateUser", s.CreateUser(ctx, keyward.User{ID: "u1", Username: "alice"}))
	tests := []struct {
		name string
		user keyward.User
		want error
	}{
		{name: "duplicate id", user: keyward.User{ID: "u1", Username: "bob"}, want: keyward.ErrConflict},
		{name: "duplicate username", user: keyward.User{ID: "u2", Username: "alice"}, want: keyward.ErrConflict},
		{name: "empty id", user: keyward.User{Username: "carol"}, want: keyward.ErrInvalid},
		{name: "empty username", user: keyward.User{ID: "u3"}, want: keyward.ErrInvalid},
		{name: "unencodable attribute", user: keyward.User{ID: "u4", Username: "dave", Attributes: map[string]any{"f": func() {}}}, want: keyward.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, "CreateUser", s.CreateUser(ctx, tt.user), tt.want)
		})
	}
	users, err := s.ListUsers(ctx)
	must(t, "ListUsers", err)
	if len(users) != 1 || users[0].Username != "alice" {
		t.Errorf("ListUsers() = %+v, want only alice", users)
	}
}

func testUserNotFound(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	_, err := s.GetUser(ctx, "nobody")
	wantErr(t, "GetUser", err, keyward.ErrNotFound)
	_, err = s.GetUserByName(ctx, "nobody")
	wantErr(t, "GetUserByName", err, keyward.ErrNotFound)
	if code := keyward.ErrorCode(err); code != keyward.ENOTFOUND {
		t.Errorf("ErrorCode() = %q, want %q", code, keyward.ENOTFOUND)
	}
	wantErr(t, "DeleteUser", s.DeleteUser(ctx, "nobody"), keyward.ErrNotFound)
	called := false
	err = s.UpdateUser(ctx, "nobody", func(*keyward.User) error { called = true; return nil })
	wantErr(t, "UpdateUser", err, keyward.ErrNotFound)
	if called {
		t.Error("UpdateUser called fn for a missing user")
	}
}

func testUserList(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	users, err := s.ListUsers(ctx)
	must(t, "ListUsers", err)
	if len(users) != 0 {
		t.Fatalf("ListUsers() on an empty store = %+v", users)
	}
	var want []keyward.User
	for _, n := range []int{3, 1, 2} {
		u := fullUser(n)
		must(t, "CreateUser", s.CreateUser(ctx, u))
	}
	for _, n := range []int{1, 2, 3} {
		want = append(want, normUser(fullUser(n)))
	}
	users, err = s.ListUsers(ctx)
	must(t, "ListUsers", err)
	equal(t, "ListUsers", users, want)
}

func testUserUpdate(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u := fullUser(1)
	must(t, "CreateUser", s.CreateUser(ctx, u))
	must(t, "CreateUser", s.CreateUser(ctx, fullUser(2)))
	before := time.Now().Add(-time.Minute)

	err := s.UpdateUser(ctx, u.ID, func(got *keyward.User) error {
		equal(t, "fn argument", *got, normUser(u))
		got.Username = "renamed"
		got.PasswordHash = "new-hash"
		got.Roles = nil
		got.Attributes = map[string]any{"email": "new@example.com"}
		got.Disabled = false
		return nil
	})
	must(t, "UpdateUser", err)
	got, err := s.GetUserByName(ctx, "renamed")
	must(t, "GetUserByName", err)
	if got.UpdatedAt.Before(before) || got.UpdatedAt.After(time.Now().Add(time.Minute)) {
		t.Errorf("UpdatedAt = %v, want the store's clock (about %v)", got.UpdatedAt, time.Now())
	}
	want := keyward.User{
		ID: u.ID, Username: "renamed", PasswordHash: "new-hash",
		Attributes: map[string]any{"email": "new@example.com"},
		CreatedAt:  norm(u.CreatedAt), UpdatedAt: got.UpdatedAt,
	}
	equal(t, "updated user", got, want)
	_, err = s.GetUserByName(ctx, u.Username)
	wantErr(t, "GetUserByName(old name)", err, keyward.ErrNotFound)

	// An UpdatedAt set by fn is kept.
	must(t, "UpdateUser", s.UpdateUser(ctx, u.ID, func(got *keyward.User) error {
		got.UpdatedAt = at(time.Hour)
		return nil
	}))
	got, err = s.GetUser(ctx, u.ID)
	must(t, "GetUser", err)
	if !got.UpdatedAt.Equal(norm(at(time.Hour))) {
		t.Errorf("UpdatedAt = %v, want %v", got.UpdatedAt, at(time.Hour))
	}

	// The other user is untouched.
	other, err := s.GetUser(ctx, fullUser(2).ID)
	must(t, "GetUser", err)
	equal(t, "other user", other, normUser(fullUser(2)))
}

func testUserUpdateErrors(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	u := fullUser(1)
	must(t, "CreateUser", s.CreateUser(ctx, u))
	must(t, "CreateUser", s.CreateUser(ctx, fullUser(2)))
	errBoom := errors.New("boom")
	tests := []struct {
		name string
		fn   func(*keyward.User) error
		want error
	}{
		{name: "fn error", fn: func(u *keyward.User) error { u.Disabled = false; return errBoom }, want: errBoom},
		{name: "no change", fn: func(u *keyward.User) error { u.Disabled = false; return keyward.ErrNoChange }, want: nil},
		{name: "username taken", fn: func(u *keyward.User) error { u.Username = fullUser(2).Username; return nil }, want: keyward.ErrConflict},
		{name: "empty username", fn: func(u *keyward.User) error { u.Username = ""; return nil }, want: keyward.ErrInvalid},
		{name: "id changed", fn: func(u *keyward.User) error { u.ID = "other"; return nil }, want: keyward.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, "UpdateUser", s.UpdateUser(ctx, u.ID, tt.fn), tt.want)
			got, err := s.GetUser(ctx, u.ID)
			must(t, "GetUser", err)
			equal(t, "user after a failed update", got, normUser(u))
		})
	}
}

func testUserDelete(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	for n := 1; n <= 2; n++ {
		u := fullUser(n)
		must(t, "CreateUser", s.CreateUser(ctx, u))
		must(t, "CreateSession", s.CreateSession(ctx, newSession(id("session", n), u.ID)))
		must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, keyward.RefreshToken{
			Hash: hash(id("refresh", n)), FamilyID: id("family", n), UserID: u.ID, ClientID: "c", ExpiresAt: at(time.Hour),
		}))
		must(t, "CreateAuthCode", s.CreateAuthCode(ctx, keyward.AuthCode{Hash: hash(id("code", n)), UserID: u.ID, ClientID: "c", ExpiresAt: at(time.Hour)}))
	}
	must(t, "DeleteUser", s.DeleteUser(ctx, fullUser(1).ID))

	_, err := s.GetUser(ctx, fullUser(1).ID)
	wantErr(t, "GetUser(deleted)", err, keyward.ErrNotFound)
	_, err = s.GetSession(ctx, id("session", 1))
	wantErr(t, "GetSession(deleted user's)", err, keyward.ErrNotFound)
	_, err = s.GetSessionByCookie(ctx, newSession(id("session", 1), "").CookieHash)
	wantErr(t, "GetSessionByCookie(deleted user's)", err, keyward.ErrNotFound)
	_, err = s.GetRefreshToken(ctx, hash(id("refresh", 1)))
	wantErr(t, "GetRefreshToken(deleted user's)", err, keyward.ErrNotFound)
	_, err = s.ConsumeAuthCode(ctx, hash(id("code", 1)), at(0))
	wantErr(t, "ConsumeAuthCode(deleted user's)", err, keyward.ErrNotFound)
	wantErr(t, "DeleteUser(again)", s.DeleteUser(ctx, fullUser(1).ID), keyward.ErrNotFound)

	// The other user keeps everything.
	_, err = s.GetUser(ctx, fullUser(2).ID)
	must(t, "GetUser(other)", err)
	_, err = s.GetSession(ctx, id("session", 2))
	must(t, "GetSession(other)", err)
	_, err = s.GetRefreshToken(ctx, hash(id("refresh", 2)))
	must(t, "GetRefreshToken(other)", err)
	_, err = s.ConsumeAuthCode(ctx, hash(id("code", 2)), at(0))
	must(t, "ConsumeAuthCode(other)", err)
}
