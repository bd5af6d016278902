package storagetest

import (
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func normSession(v keyward.Session) keyward.Session {
	v.CreatedAt = norm(v.CreatedAt)
	v.ExpiresAt = norm(v.ExpiresAt)
	v.RevokedAt = norm(v.RevokedAt)
	return v
}

// getSession returns the stored session with the ID.
func getSession(t *testing.T, s keyward.Store, id string) keyward.Session {
	t.Helper()
	v, err := s.GetSession(t.Context(), id)
	must(t, "GetSession("+id+")", err)
	return v
}

func sessionTests() []testCase {
	return []testCase{
		{name: "Session/RoundTrip", run: testSessionRoundTrip},
		{name: "Session/Errors", run: testSessionErrors},
		{name: "Session/Revoke", run: testSessionRevoke},
		{name: "Session/DeleteExpired", run: testSessionDeleteExpired},
	}
}

func testSessionRoundTrip(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	v := keyward.Session{ID: "9f86d081884c7d65", UserID: "u1", CreatedAt: at(-time.Hour), ExpiresAt: at(time.Hour), RevokedAt: at(time.Minute)}
	must(t, "CreateSession", s.CreateSession(ctx, v))
	equal(t, "GetSession", getSession(t, s, v.ID), normSession(v))

	before := time.Now().Add(-time.Minute)
	must(t, "CreateSession", s.CreateSession(ctx, keyward.Session{ID: "s2", UserID: "u1", ExpiresAt: at(0)}))
	got := getSession(t, s, "s2")
	if got.CreatedAt.Before(before) || got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt = %v, want the store's clock in UTC", got.CreatedAt)
	}
	equal(t, "GetSession", got, keyward.Session{ID: "s2", UserID: "u1", CreatedAt: got.CreatedAt, ExpiresAt: norm(at(0))})
}

func testSessionErrors(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	must(t, "CreateSession", s.CreateSession(ctx, keyward.Session{ID: "s1", UserID: "u1", ExpiresAt: at(0)}))
	wantErr(t, "CreateSession(duplicate)", s.CreateSession(ctx, keyward.Session{ID: "s1", UserID: "u2", ExpiresAt: at(0)}), keyward.ErrConflict)
	wantErr(t, "CreateSession(empty id)", s.CreateSession(ctx, keyward.Session{UserID: "u2", ExpiresAt: at(0)}), keyward.ErrInvalid)
	_, err := s.GetSession(ctx, "missing")
	wantErr(t, "GetSession(missing)", err, keyward.ErrNotFound)
	wantErr(t, "RevokeSession(missing)", s.RevokeSession(ctx, "missing", at(0)), keyward.ErrNotFound)
	if got := getSession(t, s, "s1"); got.UserID != "u1" {
		t.Errorf("GetSession() = %+v, want the first session", got)
	}
}

func testSessionRevoke(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	sessions := []keyward.Session{
		{ID: "s1", UserID: "u1", CreatedAt: at(0), ExpiresAt: at(time.Hour)},
		{ID: "s2", UserID: "u1", CreatedAt: at(0), ExpiresAt: at(time.Hour)},
		{ID: "s3", UserID: "u1", CreatedAt: at(0), ExpiresAt: at(time.Hour)},
		{ID: "s4", UserID: "u2", CreatedAt: at(0), ExpiresAt: at(time.Hour)},
	}
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
}

func testSessionDeleteExpired(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	for i, d := range []time.Duration{-time.Hour, 0, time.Microsecond, time.Hour} {
		must(t, "CreateSession", s.CreateSession(ctx, keyward.Session{ID: id("s", i), UserID: "u", ExpiresAt: at(d)}))
	}
	n, err := s.DeleteExpiredSessions(ctx, at(0))
	must(t, "DeleteExpiredSessions", err)
	if n != 2 {
		t.Errorf("DeleteExpiredSessions() = %d, want 2", n)
	}
	for i := range 4 {
		_, err := s.GetSession(ctx, id("s", i))
		if i < 2 {
			wantErr(t, "GetSession(deleted)", err, keyward.ErrNotFound)
		} else {
			must(t, "GetSession(kept)", err)
		}
	}
}
