package storagetest

import (
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// refreshToken returns an unused token of family fam expiring at at(time.Hour).
func refreshToken(name, fam string) keyward.RefreshToken {
	return keyward.RefreshToken{
		Hash:      hash(name),
		FamilyID:  fam,
		UserID:    "user-" + fam,
		ClientID:  "client-" + fam,
		Scope:     "openid offline_access",
		Audience:  []string{"https://api.example.com", "https://other.example.com"},
		SessionID: "session-" + fam,
		IssuedAt:  at(-time.Hour),
		ExpiresAt: at(time.Hour),
		JKT:       "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
	}
}

func normRefresh(r keyward.RefreshToken) keyward.RefreshToken {
	r.IssuedAt = norm(r.IssuedAt)
	r.ExpiresAt = norm(r.ExpiresAt)
	r.UsedAt = norm(r.UsedAt)
	r.RevokedAt = norm(r.RevokedAt)
	return r
}

// getRefresh returns the stored token named name.
func getRefresh(t *testing.T, s keyward.Store, name string) keyward.RefreshToken {
	t.Helper()
	r, err := s.GetRefreshToken(t.Context(), hash(name))
	must(t, "GetRefreshToken("+name+")", err)
	return r
}

func refreshTests() []testCase {
	return []testCase{
		{name: "Refresh/RoundTrip", run: testRefreshRoundTrip},
		{name: "Refresh/CreateErrors", run: testRefreshCreateErrors},
		{name: "Refresh/Rotate", run: testRefreshRotate},
		{name: "Refresh/RotateErrors", run: testRefreshRotateErrors},
		{name: "Refresh/ReuseRevokesFamily", run: testRefreshReuseRevokesFamily},
		{name: "Refresh/Revoke", run: testRefreshRevoke},
		{name: "Refresh/DeleteExpired", run: testRefreshDeleteExpired},
		{name: "Refresh/RevokedFamilyRefusesTokens", run: testRefreshRevokedFamily},
	}
}

func testRefreshRoundTrip(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	r := refreshToken("a", "f1")
	r.UsedAt, r.RevokedAt = at(time.Minute), at(2*time.Minute)
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, r))
	equal(t, "GetRefreshToken", getRefresh(t, s, "a"), normRefresh(r))

	// A client-only token, IssuedAt set by the store.
	before := time.Now().Add(-time.Minute)
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, keyward.RefreshToken{Hash: hash("b"), FamilyID: "f2", ClientID: "c", ExpiresAt: at(0)}))
	got := getRefresh(t, s, "b")
	if got.IssuedAt.Before(before) || got.IssuedAt.Location() != time.UTC {
		t.Errorf("IssuedAt = %v, want the store's clock in UTC", got.IssuedAt)
	}
	equal(t, "GetRefreshToken", got, keyward.RefreshToken{Hash: hash("b"), FamilyID: "f2", ClientID: "c", IssuedAt: got.IssuedAt, ExpiresAt: norm(at(0))})

	_, err := s.GetRefreshToken(ctx, hash("missing"))
	wantErr(t, "GetRefreshToken(missing)", err, keyward.ErrNotFound)
}

func testRefreshCreateErrors(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, refreshToken("a", "f1")))
	tests := []struct {
		name  string
		token keyward.RefreshToken
		want  error
	}{
		{name: "duplicate hash", token: refreshToken("a", "f2"), want: keyward.ErrConflict},
		{name: "empty hash", token: keyward.RefreshToken{FamilyID: "f3", ExpiresAt: at(0)}, want: keyward.ErrInvalid},
		{name: "empty family", token: keyward.RefreshToken{Hash: hash("c"), ExpiresAt: at(0)}, want: keyward.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, tt.token), tt.want)
		})
	}
	equal(t, "GetRefreshToken", getRefresh(t, s, "a"), normRefresh(refreshToken("a", "f1")))
}

func testRefreshRotate(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	old := refreshToken("a", "f1")
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, old))
	now := at(0)
	// next tries to move to another family, user, client, session and DPoP
	// key and to extend the family's life: the store copies those from old.
	next := keyward.RefreshToken{
		Hash: hash("b"), FamilyID: "evil", UserID: "evil", ClientID: "evil", SessionID: "evil", JKT: "evil",
		Scope: "openid", Audience: []string{"https://api.example.com"}, ExpiresAt: at(100 * time.Hour),
	}
	got, err := s.RotateRefreshToken(ctx, hash("a"), next, now)
	must(t, "RotateRefreshToken", err)
	wantOld := normRefresh(old)
	wantOld.UsedAt = norm(now)
	equal(t, "RotateRefreshToken returned", got, wantOld)
	equal(t, "old token", getRefresh(t, s, "a"), wantOld)
	wantNext := normRefresh(old)
	wantNext.Hash, wantNext.Scope, wantNext.Audience, wantNext.IssuedAt = hash("b"), "openid", []string{"https://api.example.com"}, norm(now)
	equal(t, "next token", getRefresh(t, s, "b"), wantNext)

	// A chain of rotations keeps the family; IssuedAt set by the caller is kept.
	third := keyward.RefreshToken{Hash: hash("c"), Scope: "openid", IssuedAt: at(2 * time.Minute)}
	_, err = s.RotateRefreshToken(ctx, hash("b"), third, at(time.Minute))
	must(t, "RotateRefreshToken(b)", err)
	c := getRefresh(t, s, "c")
	if c.FamilyID != "f1" || !c.ExpiresAt.Equal(norm(old.ExpiresAt)) || !c.IssuedAt.Equal(norm(at(2*time.Minute))) {
		t.Errorf("third token = %+v, want family f1 expiring at %v issued at %v", c, old.ExpiresAt, at(2*time.Minute))
	}

	// An unbound family's successor may be bound to a DPoP key, and stays so.
	unbound := refreshToken("u1", "f-unbound")
	unbound.JKT = ""
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, unbound))
	_, err = s.RotateRefreshToken(ctx, hash("u1"), keyward.RefreshToken{Hash: hash("u2"), JKT: "bound"}, now)
	must(t, "RotateRefreshToken(u1)", err)
	_, err = s.RotateRefreshToken(ctx, hash("u2"), keyward.RefreshToken{Hash: hash("u3"), JKT: "other"}, now)
	must(t, "RotateRefreshToken(u2)", err)
	for name, want := range map[string]string{"u1": "", "u2": "bound", "u3": "bound"} {
		if got := getRefresh(t, s, name).JKT; got != want {
			t.Errorf("token %s: JKT = %q, want %q", name, got, want)
		}
	}
}

func testRefreshRotateErrors(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	used := refreshToken("used", "f-used")
	used.UsedAt = at(-time.Minute)
	revoked := refreshToken("revoked", "f-revoked")
	revoked.RevokedAt = at(-time.Minute)
	expired := refreshToken("expired", "f-expired")
	expired.ExpiresAt = at(0)
	for _, r := range []keyward.RefreshToken{used, revoked, expired, refreshToken("live", "f-live"), refreshToken("taken", "f-taken")} {
		must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, r))
	}
	usedRevoked := normRefresh(used)
	usedRevoked.RevokedAt = norm(at(0))
	tests := []struct {
		name    string
		old     string
		next    string
		want    error
		wantOld keyward.RefreshToken
	}{
		{name: "missing", old: "missing", next: "n1", want: keyward.ErrNotFound},
		{name: "used", old: "used", next: "n2", want: keyward.ErrRefreshReused, wantOld: usedRevoked},
		{name: "revoked", old: "revoked", next: "n3", want: keyward.ErrRevoked, wantOld: normRefresh(revoked)},
		{name: "expired at now", old: "expired", next: "n4", want: keyward.ErrExpired, wantOld: normRefresh(expired)},
		{name: "next hash taken", old: "live", next: "taken", want: keyward.ErrConflict, wantOld: normRefresh(refreshToken("live", "f-live"))},
		{name: "next same as old", old: "live", next: "live", want: keyward.ErrConflict, wantOld: normRefresh(refreshToken("live", "f-live"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.RotateRefreshToken(ctx, hash(tt.old), keyward.RefreshToken{Hash: hash(tt.next)}, at(0))
			wantErr(t, "RotateRefreshToken", err, tt.want)
			equal(t, "returned token", got, tt.wantOld)
			if tt.next != "taken" && tt.next != "live" {
				_, err := s.GetRefreshToken(ctx, hash(tt.next))
				wantErr(t, "GetRefreshToken(next)", err, keyward.ErrNotFound)
			}
		})
	}
	got, err := s.RotateRefreshToken(ctx, hash("live"), keyward.RefreshToken{Scope: "no hash"}, at(0))
	wantErr(t, "RotateRefreshToken(empty next hash)", err, keyward.ErrInvalid)
	equal(t, "returned token", got, normRefresh(refreshToken("live", "f-live")))
	// Nothing of the failed rotations was written.
	equal(t, "live token", getRefresh(t, s, "live"), normRefresh(refreshToken("live", "f-live")))
	equal(t, "taken token", getRefresh(t, s, "taken"), normRefresh(refreshToken("taken", "f-taken")))
	equal(t, "revoked token", getRefresh(t, s, "revoked"), normRefresh(revoked))
	equal(t, "expired token", getRefresh(t, s, "expired"), normRefresh(expired))
	if code := keyward.ErrorCode(keyward.ErrRefreshReused); code != keyward.EINVALID {
		t.Errorf("ErrorCode(ErrRefreshReused) = %q", code)
	}
}

func testRefreshReuseRevokesFamily(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, refreshToken("a", "f1")))
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, refreshToken("other", "f2")))
	_, err := s.RotateRefreshToken(ctx, hash("a"), keyward.RefreshToken{Hash: hash("b")}, at(time.Minute))
	must(t, "RotateRefreshToken(a)", err)
	_, err = s.RotateRefreshToken(ctx, hash("b"), keyward.RefreshToken{Hash: hash("c")}, at(2*time.Minute))
	must(t, "RotateRefreshToken(b)", err)
	must(t, "RevokeRefreshFamily", s.RevokeRefreshFamily(ctx, "f2", at(-time.Minute)))

	// The thief (or the victim) presents a: the whole family is revoked.
	got, err := s.RotateRefreshToken(ctx, hash("a"), keyward.RefreshToken{Hash: hash("x")}, at(3*time.Minute))
	wantErr(t, "RotateRefreshToken(a again)", err, keyward.ErrRefreshReused)
	if got.FamilyID != "f1" || got.UserID != "user-f1" {
		t.Errorf("returned token = %+v, want the reused one", got)
	}
	for _, name := range []string{"a", "b", "c"} {
		if r := getRefresh(t, s, name); !r.RevokedAt.Equal(norm(at(3 * time.Minute))) {
			t.Errorf("token %s RevokedAt = %v, want %v", name, r.RevokedAt, at(3*time.Minute))
		}
	}
	if r := getRefresh(t, s, "other"); !r.RevokedAt.Equal(norm(at(-time.Minute))) {
		t.Errorf("other family's token RevokedAt = %v, want unchanged %v", r.RevokedAt, at(-time.Minute))
	}
	_, err = s.GetRefreshToken(ctx, hash("x"))
	wantErr(t, "GetRefreshToken(x)", err, keyward.ErrNotFound)

	// The latest token of the family no longer rotates; reuse keeps the first revocation time.
	_, err = s.RotateRefreshToken(ctx, hash("c"), keyward.RefreshToken{Hash: hash("y")}, at(4*time.Minute))
	wantErr(t, "RotateRefreshToken(c)", err, keyward.ErrRevoked)
	_, err = s.RotateRefreshToken(ctx, hash("b"), keyward.RefreshToken{Hash: hash("z")}, at(5*time.Minute))
	wantErr(t, "RotateRefreshToken(b again)", err, keyward.ErrRefreshReused)
	if r := getRefresh(t, s, "c"); !r.RevokedAt.Equal(norm(at(3 * time.Minute))) {
		t.Errorf("token c RevokedAt = %v, want the first revocation %v", r.RevokedAt, at(3*time.Minute))
	}
}

func testRefreshRevoke(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	// Tokens spread over families, sessions and users.
	tokens := []struct {
		name, fam, user, session string
	}{
		{"t1", "f1", "u1", "s1"},
		{"t2", "f1", "u1", "s1"},
		{"t3", "f2", "u1", "s2"},
		{"t4", "f3", "u2", "s3"},
		{"t5", "f4", "u2", ""},
		{"t6", "f5", "", ""},
	}
	for _, tk := range tokens {
		r := refreshToken(tk.name, tk.fam)
		r.UserID, r.SessionID = tk.user, tk.session
		must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, r))
	}
	tests := []struct {
		name    string
		revoke  func(now time.Time) error
		revoked []string
	}{
		{name: "unknown family", revoke: func(now time.Time) error { return s.RevokeRefreshFamily(ctx, "nope", now) }},
		{name: "unknown session", revoke: func(now time.Time) error { return s.RevokeSessionRefreshTokens(ctx, "nope", now) }},
		{name: "unknown user", revoke: func(now time.Time) error { return s.RevokeUserRefreshTokens(ctx, "nope", now) }},
		{name: "empty user", revoke: func(now time.Time) error { return s.RevokeUserRefreshTokens(ctx, "", now) }},
		{name: "empty session", revoke: func(now time.Time) error { return s.RevokeSessionRefreshTokens(ctx, "", now) }},
		{name: "family", revoke: func(now time.Time) error { return s.RevokeRefreshFamily(ctx, "f1", now) }, revoked: []string{"t1", "t2"}},
		{name: "session", revoke: func(now time.Time) error { return s.RevokeSessionRefreshTokens(ctx, "s3", now) }, revoked: []string{"t4"}},
		{name: "user keeps earlier revocations", revoke: func(now time.Time) error { return s.RevokeUserRefreshTokens(ctx, "u1", now) }, revoked: []string{"t3"}},
		{name: "user without session", revoke: func(now time.Time) error { return s.RevokeUserRefreshTokens(ctx, "u2", now) }, revoked: []string{"t5"}},
	}
	revokedAt := map[string]time.Time{}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := at(time.Duration(i) * time.Minute)
			must(t, "revoke", tt.revoke(now))
			for _, name := range tt.revoked {
				revokedAt[name] = norm(now)
			}
			for _, tk := range tokens {
				got := getRefresh(t, s, tk.name).RevokedAt
				if want := revokedAt[tk.name]; !got.Equal(want) {
					t.Errorf("token %s RevokedAt = %v, want %v", tk.name, got, want)
				}
			}
		})
	}
}

func testRefreshDeleteExpired(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	for i, d := range []time.Duration{-time.Hour, -time.Microsecond, 0, time.Microsecond, time.Hour} {
		r := refreshToken(id("t", i), id("f", i))
		r.ExpiresAt = at(d)
		must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, r))
	}
	n, err := s.DeleteExpiredRefreshTokens(ctx, at(0))
	must(t, "DeleteExpiredRefreshTokens", err)
	if n != 3 {
		t.Errorf("DeleteExpiredRefreshTokens() = %d, want 3", n)
	}
	for i := range 5 {
		_, err := s.GetRefreshToken(ctx, hash(id("t", i)))
		if i < 3 {
			wantErr(t, "GetRefreshToken(expired)", err, keyward.ErrNotFound)
		} else {
			must(t, "GetRefreshToken(live)", err)
		}
	}
	n, err = s.DeleteExpiredRefreshTokens(ctx, at(0))
	must(t, "DeleteExpiredRefreshTokens", err)
	if n != 0 {
		t.Errorf("DeleteExpiredRefreshTokens() again = %d, want 0", n)
	}
}

// testRefreshRevokedFamily checks that a revoked family stays revoked: a
// token created in it afterwards, even when the family had no token yet, is
// refused with ErrRevoked, until the revocation is forgotten
// keyward.RevokedFamilyRetention later.
func testRefreshRevokedFamily(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	must(t, "RevokeRefreshFamily(ghost)", s.RevokeRefreshFamily(ctx, "ghost", at(0)))
	must(t, "RevokeRefreshFamily(ghost) again", s.RevokeRefreshFamily(ctx, "ghost", at(time.Minute)))
	late := refreshToken("late", "ghost")
	late.ExpiresAt = at(48 * time.Hour)
	wantErr(t, "CreateRefreshToken(in a revoked family)", s.CreateRefreshToken(ctx, late), keyward.ErrRevoked)
	_, err := s.GetRefreshToken(ctx, hash("late"))
	wantErr(t, "GetRefreshToken(refused token)", err, keyward.ErrNotFound)

	// A family revoked by reuse detection refuses new tokens too.
	must(t, "CreateRefreshToken(a)", s.CreateRefreshToken(ctx, refreshToken("a", "f1")))
	_, err = s.RotateRefreshToken(ctx, hash("a"), keyward.RefreshToken{Hash: hash("b")}, at(0))
	must(t, "RotateRefreshToken(a)", err)
	_, err = s.RotateRefreshToken(ctx, hash("a"), keyward.RefreshToken{Hash: hash("c")}, at(0))
	wantErr(t, "RotateRefreshToken(a again)", err, keyward.ErrRefreshReused)
	wantErr(t, "CreateRefreshToken(in a reused family)", s.CreateRefreshToken(ctx, refreshToken("d", "f1")), keyward.ErrRevoked)

	// The revocation is kept for RevokedFamilyRetention, then forgotten;
	// forgetting it is not counted as a deleted token.
	n, err := s.DeleteExpiredRefreshTokens(ctx, at(keyward.RevokedFamilyRetention-time.Microsecond))
	must(t, "DeleteExpiredRefreshTokens", err)
	if n != 2 {
		t.Errorf("DeleteExpiredRefreshTokens() = %d, want the 2 expired tokens", n)
	}
	wantErr(t, "CreateRefreshToken(in a revoked family, before the retention ends)", s.CreateRefreshToken(ctx, late), keyward.ErrRevoked)
	n, err = s.DeleteExpiredRefreshTokens(ctx, at(keyward.RevokedFamilyRetention))
	must(t, "DeleteExpiredRefreshTokens", err)
	if n != 0 {
		t.Errorf("DeleteExpiredRefreshTokens() = %d, want 0", n)
	}
	must(t, "CreateRefreshToken(once the revocation is forgotten)", s.CreateRefreshToken(ctx, late))
}
