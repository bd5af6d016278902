package storagetest

import (
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func backchannelTests() []testCase {
	return []testCase{
		{name: "Backchannel/Queue", run: testBackchannelQueue},
		{name: "Backchannel/Limit", run: testBackchannelLimit},
		{name: "Backchannel/Claim", run: testBackchannelClaim},
		{name: "Backchannel/SessionDeleted", run: testBackchannelSessionDeleted},
	}
}

// backchannelSetup stores the clients "a" and "b", which registered a
// back-channel logout URI, and "c", which did not.
func backchannelSetup(t *testing.T, s keyward.Store) {
	t.Helper()
	for _, c := range []keyward.Client{
		{ID: "a", BackchannelLogoutURI: "https://a.example/bc"},
		{ID: "b", BackchannelLogoutURI: "https://b.example/bc", BackchannelLogoutSessionRequired: true},
		{ID: "c"},
	} {
		must(t, "CreateClient", s.CreateClient(t.Context(), c))
	}
}

// claimAll claims every logout due at now.
func claimAll(t *testing.T, s keyward.Store, now time.Time) []keyward.BackchannelLogout {
	t.Helper()
	ls, err := s.ClaimBackchannelLogouts(t.Context(), now, time.Minute, 100)
	must(t, "ClaimBackchannelLogouts", err)
	return ls
}

// who strips what the store assigns from logouts, for comparison.
func who(ls []keyward.BackchannelLogout) [][3]string {
	var out [][3]string
	for _, l := range ls {
		out = append(out, [3]string{l.SessionID, l.ClientID, l.UserID})
	}
	return out
}

func testBackchannelQueue(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	backchannelSetup(t, s)
	expired := newSession("s4", "u1")
	expired.ExpiresAt = at(2 * time.Minute)
	for _, v := range []keyward.Session{newSession("s1", "u1"), newSession("s2", "u1"), newSession("s3", "u2"), expired} {
		must(t, "CreateSession", s.CreateSession(ctx, v))
	}
	for _, sc := range [][2]string{{"s1", "b"}, {"s1", "a"}, {"s1", "c"}, {"s1", "a"}, {"s2", "a"}, {"s3", "a"}, {"s4", "a"}, {"missing", "a"}} {
		must(t, "AddSessionClient", s.AddSessionClient(ctx, sc[0], sc[1]))
	}
	queue := func(user, session string, ended time.Time, wantQueued int) {
		t.Helper()
		q, d, err := s.QueueBackchannelLogouts(ctx, user, session, ended, 100)
		must(t, "QueueBackchannelLogouts", err)
		if q != wantQueued || d != 0 {
			t.Errorf("QueueBackchannelLogouts(%q, %q) = %d queued, %d dropped; want %d, 0", user, session, q, d, wantQueued)
		}
	}
	// A session not ended at that instant queues nothing.
	queue("", "s1", at(time.Minute), 0)
	must(t, "RevokeSession", s.RevokeSession(ctx, "s1", at(time.Minute)))
	queue("", "s1", at(time.Minute), 2)
	ls := claimAll(t, s, at(time.Minute))
	equal(t, "queued for s1", who(ls), [][3]string{{"s1", "a", "u1"}, {"s1", "b", "u1"}})
	for _, l := range ls {
		must(t, "DeleteBackchannelLogout", s.DeleteBackchannelLogout(ctx, l.ID))
	}
	// Ended again: it keeps its first RevokedAt, and nothing is queued.
	must(t, "RevokeSession", s.RevokeSession(ctx, "s1", at(3*time.Minute)))
	queue("", "s1", at(3*time.Minute), 0)
	// The user's sessions ended at once: s2 only (s1 ended before, s4
	// had expired, s3 is another user's).
	must(t, "RevokeUserSessions", s.RevokeUserSessions(ctx, "u1", at(3*time.Minute)))
	queue("u1", "", at(3*time.Minute), 1)
	ls = claimAll(t, s, at(3*time.Minute))
	equal(t, "queued for u1", who(ls), [][3]string{{"s2", "a", "u1"}})
	if len(ls) == 1 && (!ls[0].CreatedAt.Equal(norm(at(3*time.Minute))) || ls[0].ID == 0) {
		t.Errorf("logout = %+v, want an ID and CreatedAt %v", ls[0], norm(at(3*time.Minute)))
	}
}

func testBackchannelLimit(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	backchannelSetup(t, s)
	for _, id := range []string{"s1", "s2"} {
		must(t, "CreateSession", s.CreateSession(ctx, newSession(id, "u1")))
		must(t, "AddSessionClient", s.AddSessionClient(ctx, id, "a"))
		must(t, "AddSessionClient", s.AddSessionClient(ctx, id, "b"))
	}
	must(t, "RevokeUserSessions", s.RevokeUserSessions(ctx, "u1", at(time.Minute)))
	q, d, err := s.QueueBackchannelLogouts(ctx, "u1", "", at(time.Minute), 3)
	must(t, "QueueBackchannelLogouts", err)
	if q != 3 || d != 1 {
		t.Errorf("QueueBackchannelLogouts with limit 3 = %d queued, %d dropped; want 3, 1", q, d)
	}
	if got := len(claimAll(t, s, at(time.Minute))); got != 3 {
		t.Errorf("outbox holds %d logouts, want 3", got)
	}
}

func testBackchannelClaim(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	backchannelSetup(t, s)
	for i, id := range []string{"s1", "s2", "s3"} {
		must(t, "CreateSession", s.CreateSession(ctx, newSession(id, "u1")))
		must(t, "AddSessionClient", s.AddSessionClient(ctx, id, "a"))
		must(t, "RevokeSession", s.RevokeSession(ctx, id, at(time.Duration(i)*time.Second)))
		_, _, err := s.QueueBackchannelLogouts(ctx, "", id, at(time.Duration(i)*time.Second), 100)
		must(t, "QueueBackchannelLogouts", err)
	}
	// Due at their queueing; a claim takes the earliest first, up to its limit.
	ls, err := s.ClaimBackchannelLogouts(ctx, at(time.Second), 30*time.Second, 1)
	must(t, "ClaimBackchannelLogouts", err)
	equal(t, "first claim", who(ls), [][3]string{{"s1", "a", "u1"}})
	if len(ls) != 1 {
		t.Fatalf("claimed %d logouts, want 1", len(ls))
	}
	first := ls[0]
	if first.Attempts != 1 || !first.NextAttemptAt.Equal(norm(at(31*time.Second))) {
		t.Errorf("claimed logout = %+v, want Attempts 1 and NextAttemptAt %v", first, norm(at(31*time.Second)))
	}
	// Claimed logouts are not claimed again within their lease.
	equal(t, "second claim", who(claimAll(t, s, at(2*time.Second))), [][3]string{{"s2", "a", "u1"}, {"s3", "a", "u1"}})
	if ls := claimAll(t, s, at(30*time.Second)); len(ls) != 0 {
		t.Errorf("claim within the lease = %+v, want none", ls)
	}
	// After the lease, the first is claimed again, counting the attempt.
	ls = claimAll(t, s, at(31*time.Second))
	if len(ls) != 1 || ls[0].ID != first.ID || ls[0].Attempts != 2 {
		t.Fatalf("claim after the lease = %+v, want logout %d with Attempts 2", ls, first.ID)
	}
	must(t, "RetryBackchannelLogout", s.RetryBackchannelLogout(ctx, first.ID, at(10*time.Minute)))
	if ls := claimAll(t, s, at(9*time.Minute)); len(ls) != 2 {
		t.Errorf("claim before the retry = %d logouts, want the two others", len(ls))
	}
	must(t, "DeleteBackchannelLogout", s.DeleteBackchannelLogout(ctx, first.ID))
	must(t, "DeleteBackchannelLogout(again)", s.DeleteBackchannelLogout(ctx, first.ID))
	must(t, "RetryBackchannelLogout(deleted)", s.RetryBackchannelLogout(ctx, first.ID, at(0)))
	if ls := claimAll(t, s, at(20*time.Minute)); len(ls) != 2 {
		t.Errorf("claim after deleting one = %+v, want the two others", ls)
	}
}

func testBackchannelSessionDeleted(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	backchannelSetup(t, s)
	must(t, "CreateUser", s.CreateUser(ctx, keyward.User{ID: "u1", Username: "ann"}))
	short := newSession("s1", "u2")
	short.ExpiresAt = at(time.Minute)
	for _, v := range []keyward.Session{short, newSession("s2", "u1")} {
		must(t, "CreateSession", s.CreateSession(ctx, v))
		must(t, "AddSessionClient", s.AddSessionClient(ctx, v.ID, "a"))
	}
	_, err := s.DeleteExpiredSessions(ctx, at(time.Minute))
	must(t, "DeleteExpiredSessions", err)
	must(t, "DeleteUser", s.DeleteUser(ctx, "u1"))
	// The sessions come back under the same IDs: the clients recorded in
	// the deleted ones went with them.
	for _, v := range []keyward.Session{newSession("s1", "u2"), newSession("s2", "u1")} {
		must(t, "CreateSession", s.CreateSession(ctx, v))
		must(t, "RevokeSession", s.RevokeSession(ctx, v.ID, at(2*time.Minute)))
		q, _, err := s.QueueBackchannelLogouts(ctx, "", v.ID, at(2*time.Minute), 100)
		must(t, "QueueBackchannelLogouts", err)
		if q != 0 {
			t.Errorf("session %s re-created after deletion queued %d logouts, want 0", v.ID, q)
		}
	}
}

// backchannelSessions stores n sessions of user "u1", each of which the
// client "a" got tokens in, ended at at(time.Minute).
func backchannelSessions(t *testing.T, s keyward.Store, n int) {
	t.Helper()
	ctx := t.Context()
	backchannelSetup(t, s)
	for i := range n {
		must(t, "CreateSession", s.CreateSession(ctx, newSession(id("s", i), "u1")))
		must(t, "AddSessionClient", s.AddSessionClient(ctx, id("s", i), "a"))
	}
	must(t, "RevokeUserSessions", s.RevokeUserSessions(ctx, "u1", at(time.Minute)))
}

// testClaimBackchannelOnce checks that concurrent claims, from one process
// or several, never hand out one logout twice.
func testClaimBackchannelOnce(t *testing.T, stores []keyward.Store) {
	ctx := t.Context()
	backchannelSessions(t, stores[0], 40)
	if q, _, err := stores[0].QueueBackchannelLogouts(ctx, "u1", "", at(time.Minute), 100); err != nil || q != 40 {
		t.Fatalf("QueueBackchannelLogouts = %d, %v; want 40", q, err)
	}
	var mu sync.Mutex
	claimed := map[int64]int{}
	errs := race(stores, func(s keyward.Store, _ int) error {
		ls, err := s.ClaimBackchannelLogouts(ctx, at(time.Minute), time.Minute, 3)
		mu.Lock()
		defer mu.Unlock()
		for _, l := range ls {
			claimed[l.ID]++
		}
		return err
	})
	count(t, errs, nil)
	for id, n := range claimed {
		if n != 1 {
			t.Errorf("logout %d claimed %d times", id, n)
		}
	}
	if len(claimed) != 40 {
		t.Errorf("%d logouts claimed, want all 40 (32 claims of 3)", len(claimed))
	}
}

// testQueueBackchannelBounded checks that concurrent queueing, from one
// process or several, keeps the outbox within its limit.
func testQueueBackchannelBounded(t *testing.T, stores []keyward.Store) {
	ctx := t.Context()
	backchannelSessions(t, stores[0], goroutines)
	var mu sync.Mutex
	var queued, dropped int
	errs := race(stores, func(s keyward.Store, i int) error {
		q, d, err := s.QueueBackchannelLogouts(ctx, "", id("s", i), at(time.Minute), 5)
		mu.Lock()
		defer mu.Unlock()
		queued, dropped = queued+q, dropped+d
		return err
	})
	count(t, errs, nil)
	held := len(claimAll(t, stores[0], at(time.Minute)))
	if queued != 5 || dropped != goroutines-5 || held != 5 {
		t.Errorf("%d queued, %d dropped, %d held; want 5, %d, 5", queued, dropped, held, goroutines-5)
	}
}
