package storagetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func mfaTests() []testCase {
	return []testCase{
		{name: "MFA/TOTP", run: testTOTP},
		{name: "MFA/TOTPStepOnce", run: testTOTPStepOnce},
		{name: "MFA/RecoveryCodes", run: testRecoveryCodes},
		{name: "MFA/DeleteUserFactors", run: testDeleteUserFactors},
		{name: "MFA/RequireMFA", run: testRequireMFA},
		{name: "MFA/CodeMethods", run: testCodeMethods},
	}
}

// testSessionMethods stores a session's methods, class, last use and
// device, and updates the first three.
func testSessionMethods(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	v := newSession("s1", "u1")
	v.AMR, v.ACR, v.Device = []string{"pwd"}, "urn:keyward:acr:sfa", "Firefox on Linux"
	must(t, "CreateSession", s.CreateSession(ctx, v))
	equal(t, "GetSession", getSession(t, s, "s1"), normSession(v))
	plain := newSession("s2", "u1")
	must(t, "CreateSession", s.CreateSession(ctx, plain))
	if got := getSession(t, s, "s2"); got.AMR != nil || got.ACR != "" || !got.LastUsedAt.IsZero() || got.Device != "" {
		t.Errorf("GetSession(no methods) = %+v, want nil AMR, empty ACR and device, zero LastUsedAt", got)
	}
	must(t, "UpdateSession", s.UpdateSession(ctx, "s1", func(v *keyward.Session) error {
		v.AMR, v.ACR, v.LastUsedAt = []string{"pwd", "otp", "mfa"}, "urn:keyward:acr:mfa", at(time.Minute)
		return nil
	}))
	v.AMR, v.ACR, v.LastUsedAt = []string{"pwd", "otp", "mfa"}, "urn:keyward:acr:mfa", at(time.Minute)
	equal(t, "GetSession(updated)", getSession(t, s, "s1"), normSession(v))
}

// testSessionListUser lists a user's active sessions, newest first.
func testSessionListUser(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	for i, d := range []time.Duration{0, time.Minute, 2 * time.Minute, 3 * time.Minute} {
		v := newSession(id("s", i), "u1")
		v.CreatedAt, v.AuthTime = at(d), at(d)
		if i == 3 {
			v.UserID = "u2"
		}
		must(t, "CreateSession", s.CreateSession(ctx, v))
	}
	expired := newSession("s-old", "u1")
	expired.ExpiresAt = at(0)
	must(t, "CreateSession", s.CreateSession(ctx, expired))
	must(t, "RevokeSession", s.RevokeSession(ctx, id("s", 1), at(0)))
	got, err := s.ListUserSessions(ctx, "u1", at(0))
	must(t, "ListUserSessions", err)
	var ids []string
	for _, v := range got {
		ids = append(ids, v.ID)
	}
	equal(t, "ListUserSessions", ids, []string{id("s", 2), id("s", 0)})
	got, err = s.ListUserSessions(ctx, "nobody", at(0))
	must(t, "ListUserSessions(nobody)", err)
	if len(got) != 0 {
		t.Errorf("ListUserSessions(nobody) = %v, want none", got)
	}
}

func testTOTP(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	_, err := s.GetTOTP(ctx, "u1")
	wantErr(t, "GetTOTP(missing)", err, keyward.ErrNotFound)
	wantErr(t, "PutTOTP(no user)", s.PutTOTP(ctx, keyward.TOTP{Secret: []byte("x")}), keyward.ErrInvalid)
	wantErr(t, "PutTOTP(no secret)", s.PutTOTP(ctx, keyward.TOTP{UserID: "u1"}), keyward.ErrInvalid)
	wantErr(t, "UseTOTPStep(missing)", s.UseTOTPStep(ctx, "u1", 5, at(0)), keyward.ErrNotFound)

	v := keyward.TOTP{UserID: "u1", Secret: []byte("sealed secret"), CreatedAt: at(0)}
	must(t, "PutTOTP", s.PutTOTP(ctx, v))
	got, err := s.GetTOTP(ctx, "u1")
	must(t, "GetTOTP", err)
	equal(t, "GetTOTP", got, keyward.TOTP{UserID: "u1", Secret: []byte("sealed secret"), CreatedAt: norm(at(0))})

	// The first accepted code confirms the enrolment.
	must(t, "UseTOTPStep", s.UseTOTPStep(ctx, "u1", 100, at(time.Minute)))
	got, _ = s.GetTOTP(ctx, "u1")
	if got.LastStep != 100 || !got.ConfirmedAt.Equal(norm(at(time.Minute))) {
		t.Errorf("after UseTOTPStep: %+v, want LastStep 100, ConfirmedAt %v", got, norm(at(time.Minute)))
	}
	wantErr(t, "UseTOTPStep(same step)", s.UseTOTPStep(ctx, "u1", 100, at(2*time.Minute)), keyward.ErrConflict)
	wantErr(t, "UseTOTPStep(earlier step)", s.UseTOTPStep(ctx, "u1", 99, at(2*time.Minute)), keyward.ErrConflict)
	must(t, "UseTOTPStep(later step)", s.UseTOTPStep(ctx, "u1", 101, at(3*time.Minute)))
	got, _ = s.GetTOTP(ctx, "u1")
	if got.LastStep != 101 || !got.ConfirmedAt.Equal(norm(at(time.Minute))) {
		t.Errorf("after a second step: %+v, want LastStep 101 and the first confirmation kept", got)
	}

	// A new enrolment replaces the credential.
	must(t, "PutTOTP(again)", s.PutTOTP(ctx, keyward.TOTP{UserID: "u1", Secret: []byte("other"), CreatedAt: at(time.Hour)}))
	got, _ = s.GetTOTP(ctx, "u1")
	equal(t, "GetTOTP(replaced)", got, keyward.TOTP{UserID: "u1", Secret: []byte("other"), CreatedAt: norm(at(time.Hour))})

	must(t, "DeleteTOTP", s.DeleteTOTP(ctx, "u1"))
	must(t, "DeleteTOTP(again)", s.DeleteTOTP(ctx, "u1"))
	_, err = s.GetTOTP(ctx, "u1")
	wantErr(t, "GetTOTP(deleted)", err, keyward.ErrNotFound)
}

// testTOTPStepOnce races writers presenting the same step: exactly one
// wins, as a code must work once even across replicas.
func testTOTPStepOnce(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	must(t, "PutTOTP", s.PutTOTP(ctx, keyward.TOTP{UserID: "u1", Secret: []byte("x")}))
	const n = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for range n {
		wg.Go(func() {
			err := s.UseTOTPStep(ctx, "u1", 42, at(0))
			if err != nil && !errors.Is(err, keyward.ErrConflict) {
				t.Errorf("UseTOTPStep() = %v, want nil or ErrConflict", err)
			}
			if err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d of %d concurrent uses of one step won, want 1", wins, n)
	}
}

func testRecoveryCodes(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	n, err := s.CountRecoveryCodes(ctx, "u1")
	must(t, "CountRecoveryCodes(none)", err)
	if n != 0 {
		t.Errorf("CountRecoveryCodes(none) = %d", n)
	}
	wantErr(t, "SetRecoveryCodes(no user)", s.SetRecoveryCodes(ctx, "", []keyward.RecoveryCode{{Hash: hash("a")}}), keyward.ErrInvalid)
	wantErr(t, "SetRecoveryCodes(empty hash)", s.SetRecoveryCodes(ctx, "u1", []keyward.RecoveryCode{{Hash: hash("a")}, {}}), keyward.ErrInvalid)
	must(t, "SetRecoveryCodes", s.SetRecoveryCodes(ctx, "u1", []keyward.RecoveryCode{{Hash: hash("a")}, {Hash: hash("b")}, {Hash: hash("c")}}))
	must(t, "SetRecoveryCodes(u2)", s.SetRecoveryCodes(ctx, "u2", []keyward.RecoveryCode{{Hash: hash("d")}}))
	count := func(user string, want int) {
		t.Helper()
		n, err := s.CountRecoveryCodes(ctx, user)
		must(t, "CountRecoveryCodes", err)
		if n != want {
			t.Errorf("CountRecoveryCodes(%s) = %d, want %d", user, n, want)
		}
	}
	count("u1", 3)
	must(t, "UseRecoveryCode", s.UseRecoveryCode(ctx, "u1", hash("b"), at(0)))
	wantErr(t, "UseRecoveryCode(again)", s.UseRecoveryCode(ctx, "u1", hash("b"), at(0)), keyward.ErrNotFound)
	wantErr(t, "UseRecoveryCode(another user's)", s.UseRecoveryCode(ctx, "u1", hash("d"), at(0)), keyward.ErrNotFound)
	wantErr(t, "UseRecoveryCode(unknown)", s.UseRecoveryCode(ctx, "u1", hash("z"), at(0)), keyward.ErrNotFound)
	wantErr(t, "UseRecoveryCode(empty)", s.UseRecoveryCode(ctx, "u1", nil, at(0)), keyward.ErrNotFound)
	count("u1", 2)
	count("u2", 1)
	// New codes replace the old ones, used or not.
	must(t, "SetRecoveryCodes(new)", s.SetRecoveryCodes(ctx, "u1", []keyward.RecoveryCode{{Hash: hash("e")}}))
	count("u1", 1)
	wantErr(t, "UseRecoveryCode(replaced)", s.UseRecoveryCode(ctx, "u1", hash("a"), at(0)), keyward.ErrNotFound)
	must(t, "UseRecoveryCode(new)", s.UseRecoveryCode(ctx, "u1", hash("e"), at(0)))
	count("u1", 0)
}

func testDeleteUserFactors(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	for _, u := range []string{"u1", "u2"} {
		must(t, "PutTOTP", s.PutTOTP(ctx, keyward.TOTP{UserID: u, Secret: []byte("x")}))
		must(t, "SetRecoveryCodes", s.SetRecoveryCodes(ctx, u, []keyward.RecoveryCode{{Hash: hash(u)}}))
	}
	must(t, "DeleteUserFactors", s.DeleteUserFactors(ctx, "u1"))
	must(t, "DeleteUserFactors(again)", s.DeleteUserFactors(ctx, "u1"))
	_, err := s.GetTOTP(ctx, "u1")
	wantErr(t, "GetTOTP(u1)", err, keyward.ErrNotFound)
	if n, _ := s.CountRecoveryCodes(ctx, "u1"); n != 0 {
		t.Errorf("CountRecoveryCodes(u1) = %d after DeleteUserFactors", n)
	}
	if _, err := s.GetTOTP(ctx, "u2"); err != nil {
		t.Errorf("GetTOTP(u2) = %v, want the other user's credential kept", err)
	}
	if n, _ := s.CountRecoveryCodes(ctx, "u2"); n != 1 {
		t.Errorf("CountRecoveryCodes(u2) = %d, want 1", n)
	}
	// Deleting the user deletes its factors too.
	must(t, "CreateUser", s.CreateUser(ctx, keyward.User{ID: "u2", Username: "bob"}))
	must(t, "DeleteUser", s.DeleteUser(ctx, "u2"))
	_, err = s.GetTOTP(ctx, "u2")
	wantErr(t, "GetTOTP(deleted user)", err, keyward.ErrNotFound)
}

func testRequireMFA(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	must(t, "CreateUser", s.CreateUser(ctx, keyward.User{ID: "u1", Username: "alice", RequireMFA: true}))
	u, err := s.GetUser(ctx, "u1")
	must(t, "GetUser", err)
	if !u.RequireMFA {
		t.Errorf("RequireMFA = false after CreateUser with it set")
	}
	must(t, "UpdateUser", s.UpdateUser(ctx, "u1", func(u *keyward.User) error { u.RequireMFA = false; return nil }))
	if u, _ := s.GetUser(ctx, "u1"); u.RequireMFA {
		t.Errorf("RequireMFA = true after UpdateUser cleared it")
	}
}

func testCodeMethods(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	c := keyward.AuthCode{Hash: hash("code"), ClientID: "c", UserID: "u1", SessionID: "s1", AuthTime: at(0), ExpiresAt: at(time.Minute),
		AMR: []string{"pwd", "otp", "mfa"}, ACR: "urn:keyward:acr:mfa"}
	must(t, "CreateAuthCode", s.CreateAuthCode(ctx, c))
	got, err := s.ConsumeAuthCode(ctx, c.Hash, at(0))
	must(t, "ConsumeAuthCode", err)
	equal(t, "AMR", got.AMR, c.AMR)
	equal(t, "ACR", got.ACR, c.ACR)
}
