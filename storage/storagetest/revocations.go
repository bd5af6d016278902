package storagetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func revocationTests() []testCase {
	return []testCase{
		{name: "Revocation/AccessTokens", run: testRevokeAccessTokens},
		{name: "Revocation/Users", run: testRevokeUsers},
		{name: "Revocation/UseJTI", run: testUseJTI},
		{name: "Revocation/DeleteExpired", run: testRevocationDeleteExpired},
		{name: "Revocation/DeleteUsers", run: testDeleteUserRevocations},
		{name: "Revocation/Grants", run: testRevokeGrants},
		{name: "Revocation/DeleteExpiredGrants", run: testDeleteExpiredGrants},
		{name: "Revocation/GrantsCoveredByCutoff", run: testGrantsCoveredByCutoff},
		{name: "Revocation/TokensCoveredByCutoff", run: testTokensCoveredByCutoff},
		{name: "Revocation/Log", run: testRevocationLog},
		{name: "Revocation/LogConcurrent", run: testRevocationLogConcurrent},
	}
}

func testRevokeAccessTokens(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	list, err := s.ListRevokedTokens(ctx, at(0))
	must(t, "ListRevokedTokens", err)
	if len(list) != 0 {
		t.Fatalf("ListRevokedTokens() on an empty store = %+v", list)
	}
	revocations := []keyward.RevokedToken{
		{JTI: "jti-c", ExpiresAt: at(time.Hour), RevokedAt: at(-time.Minute)},
		{JTI: "jti-a", ExpiresAt: at(time.Microsecond), RevokedAt: at(-time.Minute)},
		{JTI: "jti-expired", ExpiresAt: at(0), RevokedAt: at(-time.Hour)},
		{JTI: "jti-b", ExpiresAt: at(time.Hour)},
	}
	before := time.Now().Add(-time.Minute)
	for _, r := range revocations {
		must(t, "RevokeAccessToken", s.RevokeAccessToken(ctx, r))
	}
	// Idempotent: the first record stays.
	must(t, "RevokeAccessToken(again)", s.RevokeAccessToken(ctx, keyward.RevokedToken{JTI: "jti-c", ExpiresAt: at(2 * time.Hour), RevokedAt: at(time.Minute)}))
	wantErr(t, "RevokeAccessToken(empty jti)", s.RevokeAccessToken(ctx, keyward.RevokedToken{ExpiresAt: at(time.Hour)}), keyward.ErrInvalid)

	for _, jti := range []string{"jti-a", "jti-b", "jti-c", "jti-expired", "jti-other", ""} {
		got, err := s.IsAccessTokenRevoked(ctx, jti)
		must(t, "IsAccessTokenRevoked", err)
		if want := jti != "jti-other" && jti != ""; got != want {
			t.Errorf("IsAccessTokenRevoked(%q) = %v, want %v", jti, got, want)
		}
	}

	list, err = s.ListRevokedTokens(ctx, at(0))
	must(t, "ListRevokedTokens", err)
	if len(list) != 3 {
		t.Fatalf("ListRevokedTokens() = %+v, want 3 unexpired", list)
	}
	b := list[1]
	if b.JTI != "jti-b" || b.RevokedAt.Before(before) || b.RevokedAt.Location() != time.UTC {
		t.Errorf("ListRevokedTokens()[1] = %+v, want jti-b revoked at the store's clock", b)
	}
	equal(t, "ListRevokedTokens", list, []keyward.RevokedToken{
		{JTI: "jti-a", ExpiresAt: norm(at(time.Microsecond)), RevokedAt: norm(at(-time.Minute))},
		{JTI: "jti-b", ExpiresAt: norm(at(time.Hour)), RevokedAt: b.RevokedAt},
		{JTI: "jti-c", ExpiresAt: norm(at(time.Hour)), RevokedAt: norm(at(-time.Minute))},
	})
}

func testRevokeUsers(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	list, err := s.ListUserRevocations(ctx)
	must(t, "ListUserRevocations", err)
	if len(list) != 0 {
		t.Fatalf("ListUserRevocations() on an empty store = %+v", list)
	}
	for _, r := range []keyward.UserRevocation{
		{UserID: "u2", Before: at(time.Minute)},
		{UserID: "u1", Before: at(time.Minute)},
		{UserID: "u1", Before: at(time.Hour)},
		{UserID: "u2", Before: at(-time.Hour)}, // an earlier cutoff does not undo a later one
	} {
		must(t, "RevokeUser", s.RevokeUser(ctx, r))
	}
	wantErr(t, "RevokeUser(empty id)", s.RevokeUser(ctx, keyward.UserRevocation{Before: at(0)}), keyward.ErrInvalid)
	list, err = s.ListUserRevocations(ctx)
	must(t, "ListUserRevocations", err)
	equal(t, "ListUserRevocations", list, []keyward.UserRevocation{
		{UserID: "u1", Before: norm(at(time.Hour))},
		{UserID: "u2", Before: norm(at(time.Minute))},
	})
}

func testUseJTI(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	tests := []struct {
		name, issuer, jti string
		want              error
	}{
		{name: "first", issuer: "client-a", jti: "j1", want: nil},
		{name: "replay", issuer: "client-a", jti: "j1", want: keyward.ErrConflict},
		{name: "other issuer", issuer: "client-b", jti: "j1", want: nil},
		{name: "other jti", issuer: "client-a", jti: "j2", want: nil},
		{name: "replay again", issuer: "client-b", jti: "j1", want: keyward.ErrConflict},
		{name: "empty jti", issuer: "client-a", jti: "", want: keyward.ErrInvalid},
	}
	for _, tt := range tests {
		wantErr(t, tt.name, s.UseJTI(ctx, tt.issuer, tt.jti, at(time.Minute)), tt.want)
	}
}

func testRevocationDeleteExpired(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	for i, d := range []time.Duration{-time.Hour, 0, time.Microsecond} {
		must(t, "RevokeAccessToken", s.RevokeAccessToken(ctx, keyward.RevokedToken{JTI: id("jti", i), ExpiresAt: at(d)}))
		must(t, "UseJTI", s.UseJTI(ctx, "iss", id("jti", i), at(d)))
	}
	n, err := s.DeleteExpiredRevocations(ctx, at(0))
	must(t, "DeleteExpiredRevocations", err)
	if n != 4 {
		t.Errorf("DeleteExpiredRevocations() = %d, want 4", n)
	}
	for i := range 3 {
		revoked, err := s.IsAccessTokenRevoked(ctx, id("jti", i))
		must(t, "IsAccessTokenRevoked", err)
		if revoked != (i == 2) {
			t.Errorf("IsAccessTokenRevoked(%s) = %v after the purge", id("jti", i), revoked)
		}
		want := error(nil)
		if i == 2 {
			want = keyward.ErrConflict
		}
		wantErr(t, "UseJTI after the purge", s.UseJTI(ctx, "iss", id("jti", i), at(time.Hour)), want)
	}
}

func testDeleteUserRevocations(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	n, err := s.DeleteUserRevocations(ctx, at(0))
	must(t, "DeleteUserRevocations(empty store)", err)
	if n != 0 {
		t.Errorf("DeleteUserRevocations() on an empty store = %d, want 0", n)
	}
	for _, r := range []keyward.UserRevocation{
		{UserID: "u-old", Before: at(-time.Hour)},
		{UserID: "u-at", Before: at(0)}, // at the horizon: deleted
		{UserID: "u-just-after", Before: at(time.Microsecond)},
		{UserID: "u-new", Before: at(time.Hour)},
	} {
		must(t, "RevokeUser", s.RevokeUser(ctx, r))
	}
	// An access-token revocation is not a user cutoff: it stays.
	must(t, "RevokeAccessToken", s.RevokeAccessToken(ctx, keyward.RevokedToken{JTI: "jti-kept", ExpiresAt: at(-2 * time.Hour)}))

	want := []keyward.UserRevocation{
		{UserID: "u-just-after", Before: norm(at(time.Microsecond))},
		{UserID: "u-new", Before: norm(at(time.Hour))},
	}
	for i, wantN := range []int{2, 0} { // idempotent: the second call finds nothing
		n, err := s.DeleteUserRevocations(ctx, at(0).In(time.UTC))
		must(t, "DeleteUserRevocations", err)
		if n != wantN {
			t.Errorf("DeleteUserRevocations() call %d = %d, want %d", i+1, n, wantN)
		}
		list, err := s.ListUserRevocations(ctx)
		must(t, "ListUserRevocations", err)
		equal(t, "ListUserRevocations after the purge", list, want)
	}
	revoked, err := s.IsAccessTokenRevoked(ctx, "jti-kept")
	must(t, "IsAccessTokenRevoked", err)
	if !revoked {
		t.Error("DeleteUserRevocations deleted an access-token revocation")
	}

	// A later cutoff for a purged user is recorded afresh.
	must(t, "RevokeUser(again)", s.RevokeUser(ctx, keyward.UserRevocation{UserID: "u-old", Before: at(2 * time.Hour)}))
	list, err := s.ListUserRevocations(ctx)
	must(t, "ListUserRevocations", err)
	equal(t, "ListUserRevocations after a new cutoff", list, append(want, keyward.UserRevocation{UserID: "u-old", Before: norm(at(2 * time.Hour))}))
}

func testRevokeGrants(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	list, err := s.ListRevokedGrants(ctx, at(0))
	must(t, "ListRevokedGrants", err)
	if len(list) != 0 {
		t.Fatalf("ListRevokedGrants() on an empty store = %+v", list)
	}
	before := time.Now().Add(-time.Minute)
	for _, g := range []keyward.RevokedGrant{
		{Kind: keyward.GrantSession, ID: "s-2", RevokedAt: at(-time.Minute), ExpiresAt: at(time.Hour)},
		{Kind: keyward.GrantFamily, ID: "f-1", RevokedAt: at(-time.Minute), ExpiresAt: at(time.Hour)},
		// One ID may name a session and a family: two entries.
		{Kind: keyward.GrantFamily, ID: "s-2", RevokedAt: at(-time.Minute), ExpiresAt: at(time.Minute)},
		{Kind: keyward.GrantSession, ID: "s-1", ExpiresAt: at(time.Microsecond)},
		{Kind: keyward.GrantFamily, ID: "f-expired", RevokedAt: at(-time.Hour), ExpiresAt: at(0)},
		// Again, later: the first RevokedAt and the later ExpiresAt stay.
		{Kind: keyward.GrantFamily, ID: "f-1", RevokedAt: at(time.Minute), ExpiresAt: at(2 * time.Hour)},
		// Again, expiring sooner: it does not shorten the entry.
		{Kind: keyward.GrantSession, ID: "s-2", RevokedAt: at(time.Minute), ExpiresAt: at(time.Minute)},
	} {
		must(t, "RevokeGrant", s.RevokeGrant(ctx, g))
	}
	for _, bad := range []keyward.RevokedGrant{
		{Kind: keyward.GrantFamily, ExpiresAt: at(time.Hour)},
		{Kind: "user", ID: "u-1", ExpiresAt: at(time.Hour)},
		{ID: "f-2", ExpiresAt: at(time.Hour)},
	} {
		wantErr(t, "RevokeGrant(invalid)", s.RevokeGrant(ctx, bad), keyward.ErrInvalid)
	}
	for _, tc := range []struct {
		kind keyward.GrantKind
		id   string
		want bool
	}{
		{keyward.GrantSession, "s-1", true},
		{keyward.GrantSession, "s-2", true},
		{keyward.GrantFamily, "s-2", true},
		{keyward.GrantFamily, "f-1", true},
		{keyward.GrantFamily, "f-expired", true}, // kept until deleted
		{keyward.GrantSession, "f-1", false},
		{keyward.GrantFamily, "f-other", false},
		{keyward.GrantFamily, "", false},
	} {
		got, err := s.IsGrantRevoked(ctx, tc.kind, tc.id)
		must(t, "IsGrantRevoked", err)
		if got != tc.want {
			t.Errorf("IsGrantRevoked(%s, %q) = %v, want %v", tc.kind, tc.id, got, tc.want)
		}
	}
	list, err = s.ListRevokedGrants(ctx, at(0))
	must(t, "ListRevokedGrants", err)
	if len(list) != 4 {
		t.Fatalf("ListRevokedGrants() = %+v, want 4 unexpired", list)
	}
	s1 := list[2]
	if s1.ID != "s-1" || s1.RevokedAt.Before(before) || s1.RevokedAt.Location() != time.UTC {
		t.Errorf("ListRevokedGrants()[2] = %+v, want s-1 revoked at the store's clock", s1)
	}
	equal(t, "ListRevokedGrants", list, []keyward.RevokedGrant{
		{Kind: keyward.GrantFamily, ID: "f-1", RevokedAt: norm(at(-time.Minute)), ExpiresAt: norm(at(2 * time.Hour))},
		{Kind: keyward.GrantFamily, ID: "s-2", RevokedAt: norm(at(-time.Minute)), ExpiresAt: norm(at(time.Minute))},
		{Kind: keyward.GrantSession, ID: "s-1", RevokedAt: s1.RevokedAt, ExpiresAt: norm(at(time.Microsecond))},
		{Kind: keyward.GrantSession, ID: "s-2", RevokedAt: norm(at(-time.Minute)), ExpiresAt: norm(at(time.Hour))},
	})
	list, err = s.ListRevokedGrants(ctx, at(time.Minute))
	must(t, "ListRevokedGrants(later)", err)
	if len(list) != 2 || list[0].ID != "f-1" || list[1].ID != "s-2" {
		t.Errorf("ListRevokedGrants(a minute later) = %+v, want f-1 and session s-2", list)
	}
}

func testDeleteExpiredGrants(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	for i, d := range []time.Duration{-time.Hour, 0, time.Microsecond} {
		must(t, "RevokeGrant", s.RevokeGrant(ctx, keyward.RevokedGrant{Kind: keyward.GrantFamily, ID: id("f", i), ExpiresAt: at(d)}))
	}
	n, err := s.DeleteExpiredRevocations(ctx, at(0))
	must(t, "DeleteExpiredRevocations", err)
	if n != 2 {
		t.Errorf("DeleteExpiredRevocations() = %d, want 2", n)
	}
	list, err := s.ListRevokedGrants(ctx, at(-2*time.Hour))
	must(t, "ListRevokedGrants", err)
	if len(list) != 1 {
		t.Fatalf("ListRevokedGrants() after the purge = %+v, want one", list)
	}
	if revoked, err := s.IsGrantRevoked(ctx, keyward.GrantFamily, id("f", 0)); err != nil || revoked {
		t.Errorf("IsGrantRevoked(a purged family) = %v, %v; want false", revoked, err)
	}
	equal(t, "ListRevokedGrants after the purge", list, []keyward.RevokedGrant{
		{Kind: keyward.GrantFamily, ID: id("f", 2), RevokedAt: list[0].RevokedAt, ExpiresAt: norm(at(time.Microsecond))},
	})
	// A grant revoked again after its purge is recorded afresh.
	must(t, "RevokeGrant(again)", s.RevokeGrant(ctx, keyward.RevokedGrant{Kind: keyward.GrantFamily, ID: id("f", 0), ExpiresAt: at(time.Hour)}))
	list, err = s.ListRevokedGrants(ctx, at(0))
	must(t, "ListRevokedGrants", err)
	if len(list) != 2 || list[0].ID != id("f", 0) {
		t.Errorf("ListRevokedGrants() after a new revocation = %+v", list)
	}
}

func testRevocationLog(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	head := func(wantHead, wantFloor int64) {
		t.Helper()
		h, f, err := s.RevocationLogHead(ctx)
		must(t, "RevocationLogHead", err)
		if h != wantHead || f != wantFloor {
			t.Errorf("RevocationLogHead() = %d, %d; want %d, %d", h, f, wantHead, wantFloor)
		}
	}
	head(0, 0)
	must(t, "RevokeAccessToken", s.RevokeAccessToken(ctx, keyward.RevokedToken{JTI: "j-1", ExpiresAt: at(time.Hour)}))
	must(t, "RevokeAccessToken(again)", s.RevokeAccessToken(ctx, keyward.RevokedToken{JTI: "j-1", ExpiresAt: at(2 * time.Hour)})) // no change
	must(t, "RevokeGrant", s.RevokeGrant(ctx, keyward.RevokedGrant{Kind: keyward.GrantFamily, ID: "f-1", ExpiresAt: at(time.Minute)}))
	must(t, "RevokeUser", s.RevokeUser(ctx, keyward.UserRevocation{UserID: "u-1", Before: at(-time.Hour)}))
	must(t, "RevokeGrant", s.RevokeGrant(ctx, keyward.RevokedGrant{Kind: keyward.GrantSession, ID: "s-1", ExpiresAt: at(time.Hour)}))
	// A lower cutoff or expiry records what stays in force; a user's new
	// change supersedes the earlier one, which leaves the log.
	must(t, "RevokeUser(earlier)", s.RevokeUser(ctx, keyward.UserRevocation{UserID: "u-1", Before: at(-2 * time.Hour)}))
	must(t, "RevokeGrant(sooner)", s.RevokeGrant(ctx, keyward.RevokedGrant{Kind: keyward.GrantFamily, ID: "f-1", ExpiresAt: at(time.Microsecond)}))
	wantErr(t, "RevokeGrant(invalid)", s.RevokeGrant(ctx, keyward.RevokedGrant{Kind: keyward.GrantFamily}), keyward.ErrInvalid)
	head(6, 0)
	all := []keyward.RevocationChange{
		{Seq: 1, Kind: keyward.RevocationToken, Key: "j-1", At: norm(at(time.Hour))},
		{Seq: 2, Kind: keyward.RevocationFamily, Key: "f-1", At: norm(at(time.Minute))},
		{Seq: 4, Kind: keyward.RevocationSession, Key: "s-1", At: norm(at(time.Hour))},
		{Seq: 5, Kind: keyward.RevocationUser, Key: "u-1", At: norm(at(-time.Hour))},
		{Seq: 6, Kind: keyward.RevocationFamily, Key: "f-1", At: norm(at(time.Minute))},
	}
	for _, tc := range []struct {
		since int64
		limit int
		want  []keyward.RevocationChange
	}{
		{0, 100, all},
		{0, 2, all[:2]},
		{2, 3, all[2:5]},
		{3, 100, all[2:]},
		{5, 100, all[4:]},
		{6, 100, []keyward.RevocationChange{}},
		{1 << 62, 100, []keyward.RevocationChange{}},
		{0, 0, []keyward.RevocationChange{}},
	} {
		got, err := s.ListRevocationChanges(ctx, tc.since, tc.limit)
		must(t, "ListRevocationChanges", err)
		equal(t, fmt.Sprintf("ListRevocationChanges(%d, %d)", tc.since, tc.limit), got, tc.want)
	}

	// Expired entries leave the log without raising its floor; swept user
	// cutoffs raise it.
	_, err := s.DeleteExpiredRevocations(ctx, at(time.Minute))
	must(t, "DeleteExpiredRevocations", err)
	head(6, 0)
	got, err := s.ListRevocationChanges(ctx, 0, 100)
	must(t, "ListRevocationChanges", err)
	equal(t, "ListRevocationChanges after DeleteExpiredRevocations", got, []keyward.RevocationChange{all[0], all[2], all[3]})
	_, err = s.DeleteUserRevocations(ctx, at(-time.Hour))
	must(t, "DeleteUserRevocations", err)
	head(6, 5)
	got, err = s.ListRevocationChanges(ctx, 0, 100)
	must(t, "ListRevocationChanges", err)
	equal(t, "ListRevocationChanges after DeleteUserRevocations", got, []keyward.RevocationChange{all[0], all[2]})
	must(t, "RevokeUser", s.RevokeUser(ctx, keyward.UserRevocation{UserID: "u-2", Before: at(0)}))
	head(7, 5)
}

// testRevocationLogConcurrent revokes from many goroutines at once: every
// change is in the log once, numbered without gaps.
func testRevocationLogConcurrent(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			errs <- s.RevokeGrant(ctx, keyward.RevokedGrant{Kind: keyward.GrantFamily, ID: id("f", i), ExpiresAt: at(time.Hour)})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, "RevokeGrant", err)
	}
	got, err := s.ListRevocationChanges(ctx, 0, 2*n)
	must(t, "ListRevocationChanges", err)
	seen := map[string]bool{}
	for i, c := range got {
		if c.Seq != int64(i+1) || seen[c.Key] {
			t.Fatalf("change %d = %+v: want seq %d, each family once", i, c, i+1)
		}
		seen[c.Key] = true
	}
	if len(seen) != n {
		t.Errorf("%d changes, want %d", len(seen), n)
	}
}

// testGrantsCoveredByCutoff checks that a user's grants revoked before the
// user's cutoff leave the feed (the cutoff refuses their tokens too) while
// the issuer still knows them, and are counted until they expire.
func testGrantsCoveredByCutoff(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	count := func(user string, now time.Time, want int) {
		t.Helper()
		n, err := s.CountUserEntries(ctx, user, now, 100)
		must(t, "CountUserEntries", err)
		if n != want {
			t.Errorf("CountUserEntries(%q) = %d, want %d", user, n, want)
		}
	}
	count("u-1", at(0), 0)
	for i := range 3 {
		must(t, "RevokeGrant", s.RevokeGrant(ctx, keyward.RevokedGrant{
			Kind: keyward.GrantFamily, ID: id("f", i), UserID: "u-1", RevokedAt: at(time.Duration(i) * time.Second), ExpiresAt: at(time.Hour),
		}))
	}
	must(t, "RevokeGrant", s.RevokeGrant(ctx, keyward.RevokedGrant{
		Kind: keyward.GrantSession, ID: "s-1", UserID: "u-1", RevokedAt: at(0), ExpiresAt: at(time.Second),
	}))
	must(t, "RevokeGrant", s.RevokeGrant(ctx, keyward.RevokedGrant{
		Kind: keyward.GrantSession, ID: "s-other", UserID: "u-2", RevokedAt: at(0), ExpiresAt: at(time.Hour),
	}))
	must(t, "RevokeGrant", s.RevokeGrant(ctx, keyward.RevokedGrant{
		Kind: keyward.GrantFamily, ID: "f-nouser", RevokedAt: at(0), ExpiresAt: at(time.Hour),
	}))
	count("u-1", at(0), 4)
	count("u-1", at(time.Second), 3) // s-1 expired
	count("u-2", at(0), 1)
	count("u-3", at(0), 0)
	list, err := s.ListRevokedGrants(ctx, at(0))
	must(t, "ListRevokedGrants", err)
	if len(list) != 6 || list[0].UserID != "u-1" || list[3].UserID != "" {
		t.Fatalf("ListRevokedGrants() = %+v, want 6 with their users", list)
	}

	// A cutoff after f-00 and f-01 (and s-1) covers them, not f-02 revoked
	// at it, nor another user's grant, nor a grant without a user.
	must(t, "RevokeUser", s.RevokeUser(ctx, keyward.UserRevocation{UserID: "u-1", Before: at(2 * time.Second)}))
	// A grant revoked again keeps its user: an empty one does not uncover it.
	must(t, "RevokeGrant(again)", s.RevokeGrant(ctx, keyward.RevokedGrant{
		Kind: keyward.GrantFamily, ID: id("f", 0), RevokedAt: at(3 * time.Second), ExpiresAt: at(2 * time.Hour),
	}))
	head, _, err := s.RevocationLogHead(ctx)
	must(t, "RevocationLogHead", err)
	// A grant revoked before the cutoff, after it: stored, not published.
	must(t, "RevokeGrant(covered)", s.RevokeGrant(ctx, keyward.RevokedGrant{
		Kind: keyward.GrantFamily, ID: "f-late", UserID: "u-1", RevokedAt: at(time.Second), ExpiresAt: at(time.Hour),
	}))
	if h, _, err := s.RevocationLogHead(ctx); err != nil || h != head {
		t.Errorf("RevocationLogHead() after a covered grant = %d, %v; want %d (no change)", h, err, head)
	}
	count("u-1", at(0), 5) // covered or not, all five are counted
	count("u-2", at(0), 1)
	list, err = s.ListRevokedGrants(ctx, at(0))
	must(t, "ListRevokedGrants", err)
	var ids []string
	for _, g := range list {
		ids = append(ids, string(g.Kind)+"/"+g.ID+"/"+g.UserID)
	}
	equal(t, "ListRevokedGrants after the cutoff", ids, []string{"family/f-02/u-1", "family/f-nouser/", "session/s-other/u-2"})
	for _, gid := range []string{id("f", 0), id("f", 1), "f-late"} {
		if revoked, err := s.IsGrantRevoked(ctx, keyward.GrantFamily, gid); err != nil || !revoked {
			t.Errorf("IsGrantRevoked(%s) under a cutoff = %v, %v; want true", gid, revoked, err)
		}
	}

	// Once the cutoff is deleted, the grants it covered are published again
	// until they expire: f-00, f-01, f-02, f-late and s-1.
	_, err = s.DeleteUserRevocations(ctx, at(2*time.Second))
	must(t, "DeleteUserRevocations", err)
	count("u-1", at(0), 5)
}

// testTokensCoveredByCutoff checks that access-token revocations count
// toward their subject's entries (with the subject's grants), that those
// revoked before the subject's cutoff leave the feed and write no change
// while the issuer still knows them, and that UserCutoff reads the cutoff.
func testTokensCoveredByCutoff(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	count := func(subject string, now time.Time, want int) {
		t.Helper()
		n, err := s.CountUserEntries(ctx, subject, now, 100)
		must(t, "CountUserEntries", err)
		if n != want {
			t.Errorf("CountUserEntries(%q) = %d, want %d", subject, n, want)
		}
	}
	cutoff := func(subject string, want time.Time) {
		t.Helper()
		got, err := s.UserCutoff(ctx, subject)
		must(t, "UserCutoff", err)
		if !got.Equal(want) {
			t.Errorf("UserCutoff(%q) = %v, want %v", subject, got, want)
		}
	}
	cutoff("client-1", time.Time{})
	for i := range 3 {
		must(t, "RevokeAccessToken", s.RevokeAccessToken(ctx, keyward.RevokedToken{
			JTI: id("j", i), Subject: "client-1", RevokedAt: at(time.Duration(i) * time.Second), ExpiresAt: at(time.Hour),
		}))
	}
	must(t, "RevokeAccessToken", s.RevokeAccessToken(ctx, keyward.RevokedToken{
		JTI: "j-short", Subject: "client-1", RevokedAt: at(0), ExpiresAt: at(time.Second),
	}))
	must(t, "RevokeAccessToken", s.RevokeAccessToken(ctx, keyward.RevokedToken{
		JTI: "j-nosub", RevokedAt: at(0), ExpiresAt: at(time.Hour),
	}))
	must(t, "RevokeGrant", s.RevokeGrant(ctx, keyward.RevokedGrant{
		Kind: keyward.GrantFamily, ID: "f-1", UserID: "client-1", RevokedAt: at(0), ExpiresAt: at(time.Hour),
	}))
	count("client-1", at(0), 5)
	count("client-1", at(time.Second), 4) // j-short expired
	count("client-2", at(0), 0)

	// A cutoff after j-00 and j-01 covers them, not j-02 revoked at it,
	// nor a token without a subject.
	must(t, "RevokeUser", s.RevokeUser(ctx, keyward.UserRevocation{UserID: "client-1", Before: at(2 * time.Second)}))
	cutoff("client-1", norm(at(2*time.Second)))
	head, _, err := s.RevocationLogHead(ctx)
	must(t, "RevocationLogHead", err)
	must(t, "RevokeAccessToken(covered)", s.RevokeAccessToken(ctx, keyward.RevokedToken{
		JTI: "j-late", Subject: "client-1", RevokedAt: at(time.Second), ExpiresAt: at(time.Hour),
	}))
	if h, _, err := s.RevocationLogHead(ctx); err != nil || h != head {
		t.Errorf("RevocationLogHead() after a covered token = %d, %v; want %d (no change)", h, err, head)
	}
	count("client-1", at(time.Second), 5) // covered or not
	if n, err := s.CountUserEntries(ctx, "client-1", at(0), 2); err != nil || n != 2 {
		t.Errorf("CountUserEntries(client-1, limit 2) = %d, %v; want 2", n, err)
	}
	list, err := s.ListRevokedTokens(ctx, at(0))
	must(t, "ListRevokedTokens", err)
	var jtis []string
	for _, tok := range list {
		jtis = append(jtis, tok.JTI+"/"+tok.Subject)
	}
	equal(t, "ListRevokedTokens after the cutoff", jtis, []string{"j-02/client-1", "j-nosub/"})
	for _, jti := range []string{id("j", 0), id("j", 1), "j-late"} {
		if revoked, err := s.IsAccessTokenRevoked(ctx, jti); err != nil || !revoked {
			t.Errorf("IsAccessTokenRevoked(%s) under a cutoff = %v, %v; want true", jti, revoked, err)
		}
	}
}
