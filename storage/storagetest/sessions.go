package storagetest

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func normSession(v keyward.Session) keyward.Session {
	v.CreatedAt = norm(v.CreatedAt)
	v.AuthTime = norm(v.AuthTime)
	v.ExpiresAt = norm(v.ExpiresAt)
	v.RevokedAt = norm(v.RevokedAt)
	v.LastUsedAt = norm(v.LastUsedAt)
	return v
}

// getSession returns the stored session with the ID.
func getSession(t *testing.T, s keyward.Store, id string) keyward.Session {
	t.Helper()
	v, err := s.GetSession(t.Context(), id)
	must(t, "GetSession("+id+")", err)
	return v
}

// newSession is a live session of user u whose cookie is the ID's hash
// (any unique cookie would do).
func newSession(id, u string) keyward.Session {
	return keyward.Session{ID: id, CookieHash: hash("cookie " + id), UserID: u, CreatedAt: at(0), AuthTime: at(0), ExpiresAt: at(time.Hour)}
}

func sessionTests() []testCase {
	return []testCase{
		{name: "Session/RoundTrip", run: testSessionRoundTrip},
		{name: "Session/Errors", run: testSessionErrors},
		{name: "Session/Update", run: testSessionUpdate},
		{name: "Session/Revoke", run: testSessionRevoke},
		{name: "Session/DeleteExpired", run: testSessionDeleteExpired},
		{name: "Session/Methods", run: testSessionMethods},
		{name: "Session/ListUser", run: testSessionListUser},
	}
}

func testSessionRoundTrip(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	v := keyward.Session{ID: "9f86d081884c7d65", CookieHash: hash("cookie"), UserID: "u1", CreatedAt: at(-time.Hour),
		AuthTime: at(-time.Minute), ExpiresAt: at(time.Hour), RevokedAt: at(time.Minute)}
	must(t, "CreateSession", s.CreateSession(ctx, v))
	equal(t, "GetSession", getSession(t, s, v.ID), normSession(v))
	got, err := s.GetSessionByCookie(ctx, hash("cookie"))
	must(t, "GetSessionByCookie", err)
	equal(t, "GetSessionByCookie", got, normSession(v))

	before := time.Now().Add(-time.Minute)
	must(t, "CreateSession", s.CreateSession(ctx, keyward.Session{ID: "s2", CookieHash: hash("cookie 2"), UserID: "u1", ExpiresAt: at(0)}))
	got = getSession(t, s, "s2")
	if got.CreatedAt.Before(before) || got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt = %v, want the store's clock in UTC", got.CreatedAt)
	}
	equal(t, "GetSession", got, keyward.Session{ID: "s2", CookieHash: hash("cookie 2"), UserID: "u1", CreatedAt: got.CreatedAt,
		AuthTime: got.CreatedAt, ExpiresAt: norm(at(0))})

	// AuthTime defaults to CreatedAt when only CreatedAt is given.
	v = newSession("s3", "u1")
	v.AuthTime = time.Time{}
	must(t, "CreateSession", s.CreateSession(ctx, v))
	if got := getSession(t, s, "s3"); !got.AuthTime.Equal(norm(at(0))) {
		t.Errorf("AuthTime = %v, want CreatedAt %v", got.AuthTime, norm(at(0)))
	}
}

func testSessionErrors(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	must(t, "CreateSession", s.CreateSession(ctx, newSession("s1", "u1")))
	for _, tt := range []struct {
		name string
		v    keyward.Session
		want error
	}{
		{name: "duplicate id", v: keyward.Session{ID: "s1", CookieHash: hash("other"), UserID: "u2", ExpiresAt: at(0)}, want: keyward.ErrConflict},
		{name: "duplicate cookie", v: keyward.Session{ID: "s2", CookieHash: newSession("s1", "").CookieHash, UserID: "u2", ExpiresAt: at(0)}, want: keyward.ErrConflict},
		{name: "empty id", v: keyward.Session{CookieHash: hash("other"), UserID: "u2", ExpiresAt: at(0)}, want: keyward.ErrInvalid},
		{name: "empty cookie hash", v: keyward.Session{ID: "s3", UserID: "u2", ExpiresAt: at(0)}, want: keyward.ErrInvalid},
	} {
		wantErr(t, "CreateSession("+tt.name+")", s.CreateSession(ctx, tt.v), tt.want)
	}
	_, err := s.GetSession(ctx, "missing")
	wantErr(t, "GetSession(missing)", err, keyward.ErrNotFound)
	_, err = s.GetSession(ctx, "s3")
	wantErr(t, "GetSession(refused)", err, keyward.ErrNotFound)
	_, err = s.GetSessionByCookie(ctx, hash("missing"))
	wantErr(t, "GetSessionByCookie(missing)", err, keyward.ErrNotFound)
	_, err = s.GetSessionByCookie(ctx, nil)
	wantErr(t, "GetSessionByCookie(empty)", err, keyward.ErrNotFound)
	wantErr(t, "RevokeSession(missing)", s.RevokeSession(ctx, "missing", at(0)), keyward.ErrNotFound)
	wantErr(t, "UpdateSession(missing)", s.UpdateSession(ctx, "missing", func(*keyward.Session) error { return nil }), keyward.ErrNotFound)
	if got := getSession(t, s, "s1"); got.UserID != "u1" {
		t.Errorf("GetSession() = %+v, want the first session", got)
	}
}

// testSessionUpdate renews a session as a new login in it does, and checks
// that every refused update leaves the session as it was.
func testSessionUpdate(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	first, other := newSession("s1", "u1"), newSession("s2", "u2")
	must(t, "CreateSession", s.CreateSession(ctx, first))
	must(t, "CreateSession", s.CreateSession(ctx, other))

	errStop := errors.New("stop")
	for _, tt := range []struct {
		name string
		fn   func(*keyward.Session) error
		want error
	}{
		{name: "fn fails", fn: func(v *keyward.Session) error { v.AuthTime = at(time.Minute); return errStop }, want: errStop},
		{name: "no change", fn: func(v *keyward.Session) error { v.AuthTime = at(time.Minute); return keyward.ErrNoChange }},
		{name: "id changed", fn: func(v *keyward.Session) error { v.ID = "s9"; return nil }, want: keyward.ErrInvalid},
		{name: "user changed", fn: func(v *keyward.Session) error { v.UserID = "u2"; return nil }, want: keyward.ErrInvalid},
		{name: "creation changed", fn: func(v *keyward.Session) error { v.CreatedAt = at(time.Minute); return nil }, want: keyward.ErrInvalid},
		{name: "revoked", fn: func(v *keyward.Session) error { v.RevokedAt = at(time.Minute); return nil }, want: keyward.ErrInvalid},
		{name: "cookie hash emptied", fn: func(v *keyward.Session) error { v.CookieHash = nil; return nil }, want: keyward.ErrInvalid},
		{name: "another session's cookie", fn: func(v *keyward.Session) error { v.CookieHash = other.CookieHash; return nil }, want: keyward.ErrConflict},
	} {
		wantErr(t, "UpdateSession("+tt.name+")", s.UpdateSession(ctx, "s1", tt.fn), tt.want)
		equal(t, "session after UpdateSession("+tt.name+")", getSession(t, s, "s1"), normSession(first))
	}

	// A renewal: a new cookie, a new login time, a new expiry; the old
	// cookie no longer finds the session.
	must(t, "UpdateSession", s.UpdateSession(ctx, "s1", func(v *keyward.Session) error {
		if !bytes.Equal(v.CookieHash, first.CookieHash) || !v.AuthTime.Equal(norm(at(0))) {
			t.Errorf("fn got %+v, want the stored session", v)
		}
		v.CookieHash, v.AuthTime, v.ExpiresAt = hash("renewed"), at(time.Minute), at(2*time.Hour)
		return nil
	}))
	want := first
	want.CookieHash, want.AuthTime, want.ExpiresAt = hash("renewed"), at(time.Minute), at(2*time.Hour)
	equal(t, "GetSession(renewed)", getSession(t, s, "s1"), normSession(want))
	got, err := s.GetSessionByCookie(ctx, hash("renewed"))
	must(t, "GetSessionByCookie(new cookie)", err)
	equal(t, "GetSessionByCookie(new cookie)", got, normSession(want))
	_, err = s.GetSessionByCookie(ctx, first.CookieHash)
	wantErr(t, "GetSessionByCookie(old cookie)", err, keyward.ErrNotFound)
	equal(t, "the other session", getSession(t, s, "s2"), normSession(other))
}

func testSessionRevoke(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	sessions := []keyward.Session{newSession("s1", "u1"), newSession("s2", "u1"), newSession("s3", "u1"), newSession("s4", "u2")}
	for _, v := range sessions {
		must(t, "CreateSession", s.CreateSession(ctx, v))
	}
	must(t, "RevokeSession", s.RevokeSession(ctx, "s1", at(time.Minute)))
	must(t, "RevokeSession(again)", s.RevokeSession(ctx, "s1", at(2*time.Minute)))
	must(t, "RevokeUserSessions", s.RevokeUserSessions(ctx, "u1", at(3*time.Minute)))
	must(t, "RevokeUserSessions(unknown)", s.RevokeUserSessions(ctx, "nobody", at(4*time.Minute)))
	want := map[string]time.Time{"s1": norm(at(time.Minute)), "s2": norm(at(3 * time.Minute)), "s3": norm(at(3 * time.Minute)), "s4": {}}
	for _, v := range sessions {
		got := getSession(t, s, v.ID)
		if !got.RevokedAt.Equal(want[v.ID]) {
			t.Errorf("session %s RevokedAt = %v, want %v", v.ID, got.RevokedAt, want[v.ID])
		}
		if got.Active(at(0)) != want[v.ID].IsZero() {
			t.Errorf("session %s Active() = %v", v.ID, got.Active(at(0)))
		}
	}
	// A renewal keeps the revocation.
	must(t, "UpdateSession(revoked)", s.UpdateSession(ctx, "s1", func(v *keyward.Session) error {
		v.AuthTime, v.ExpiresAt = at(5*time.Minute), at(3*time.Hour)
		return nil
	}))
	if got := getSession(t, s, "s1"); !got.RevokedAt.Equal(want["s1"]) {
		t.Errorf("RevokedAt after an update = %v, want %v", got.RevokedAt, want["s1"])
	}
}

func testSessionDeleteExpired(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	for i, d := range []time.Duration{-time.Hour, 0, time.Microsecond, time.Hour} {
		v := newSession(id("s", i), "u")
		v.ExpiresAt = at(d)
		must(t, "CreateSession", s.CreateSession(ctx, v))
	}
	n, err := s.DeleteExpiredSessions(ctx, at(0))
	must(t, "DeleteExpiredSessions", err)
	if n != 2 {
		t.Errorf("DeleteExpiredSessions() = %d, want 2", n)
	}
	for i := range 4 {
		_, err := s.GetSession(ctx, id("s", i))
		_, errCookie := s.GetSessionByCookie(ctx, newSession(id("s", i), "").CookieHash)
		if i < 2 {
			wantErr(t, "GetSession(deleted)", err, keyward.ErrNotFound)
			wantErr(t, "GetSessionByCookie(deleted)", errCookie, keyward.ErrNotFound)
		} else {
			must(t, "GetSession(kept)", err)
			must(t, "GetSessionByCookie(kept)", errCookie)
		}
	}
}
