package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// fullPasskey returns a passkey of user with every field set.
func fullPasskey(n int, user string) keyward.Passkey {
	return keyward.Passkey{
		ID:                []byte(id("credential", n)),
		UserID:            user,
		Name:              "laptop " + id("key", n),
		PublicKey:         []byte{0xa5, 0x01, 0x02, 0x03, 0x26, byte(n)},
		AttestationFormat: "packed",
		AAGUID:            bytes.Repeat([]byte{byte(n + 1)}, 16),
		SignCount:         4_000_000_000 + uint32(n),
		Transports:        []string{"internal", "hybrid"},
		UserVerified:      true,
		BackupEligible:    true,
		BackupState:       true,
		CreatedAt:         at(time.Duration(n) * time.Minute),
		LastUsedAt:        at(time.Hour),
	}
}

// normPasskey is how a store gives back p.
func normPasskey(p keyward.Passkey) keyward.Passkey {
	p.CreatedAt = norm(p.CreatedAt)
	p.LastUsedAt = norm(p.LastUsedAt)
	return p
}

// newUser stores a user with the ID and returns it.
func newUser(t *testing.T, s keyward.Store, userID string) {
	t.Helper()
	must(t, "CreateUser", s.CreateUser(t.Context(), keyward.User{ID: userID, Username: "name of " + userID}))
}

func passkeyTests() []testCase {
	return []testCase{
		{name: "Passkey/RoundTrip", run: testPasskeyRoundTrip},
		{name: "Passkey/Errors", run: testPasskeyErrors},
		{name: "Passkey/Update", run: testPasskeyUpdate},
		{name: "Passkey/Delete", run: testPasskeyDelete},
		{name: "Passkey/Ceremony", run: testPasskeyCeremony},
		{name: "Passkey/CeremonyExpired", run: testPasskeyCeremonyExpired},
	}
}

func testPasskeyRoundTrip(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	newUser(t, s, "u1")
	newUser(t, s, "u2")
	p2, p1, other := fullPasskey(2, "u1"), fullPasskey(1, "u1"), fullPasskey(3, "u2")
	for _, p := range []keyward.Passkey{p2, p1, other} {
		must(t, "CreatePasskey", s.CreatePasskey(ctx, p))
	}
	got, err := s.GetPasskey(ctx, p1.ID)
	must(t, "GetPasskey", err)
	equal(t, "GetPasskey", got, normPasskey(p1))
	list, err := s.ListPasskeys(ctx, "u1")
	must(t, "ListPasskeys", err)
	equal(t, "ListPasskeys(u1), by CreatedAt", list, []keyward.Passkey{normPasskey(p1), normPasskey(p2)})
	list, err = s.ListPasskeys(ctx, "nobody")
	must(t, "ListPasskeys(nobody)", err)
	if len(list) != 0 {
		t.Errorf("ListPasskeys(nobody) = %v, want none", list)
	}

	// Zero values come back zero, and CreatedAt is the store's clock.
	before := time.Now().Add(-time.Minute)
	minimal := keyward.Passkey{ID: []byte{0, 1, 2}, UserID: "u2", PublicKey: []byte{1}}
	must(t, "CreatePasskey(minimal)", s.CreatePasskey(ctx, minimal))
	got, err = s.GetPasskey(ctx, minimal.ID)
	must(t, "GetPasskey(minimal)", err)
	if got.CreatedAt.Before(before) || got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt = %v, want the store's clock in UTC", got.CreatedAt)
	}
	minimal.CreatedAt = got.CreatedAt
	equal(t, "GetPasskey(minimal)", got, minimal)
	// Credential IDs are bytes, not strings: one that differs in a byte
	// is another credential.
	if _, err := s.GetPasskey(ctx, []byte{0, 1, 3}); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("GetPasskey(other bytes) = %v, want ErrNotFound", err)
	}
}

func testPasskeyErrors(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	newUser(t, s, "u1")
	newUser(t, s, "u2")
	valid := fullPasskey(1, "u1")
	for _, tt := range []struct {
		name   string
		change func(*keyward.Passkey)
		want   error
	}{
		{"empty id", func(p *keyward.Passkey) { p.ID = nil }, keyward.ErrInvalid},
		{"oversized id", func(p *keyward.Passkey) { p.ID = make([]byte, keyward.MaxPasskeyIDLen+1) }, keyward.ErrInvalid},
		{"empty user", func(p *keyward.Passkey) { p.UserID = "" }, keyward.ErrInvalid},
		{"empty public key", func(p *keyward.Passkey) { p.PublicKey = nil }, keyward.ErrInvalid},
		{"unknown user", func(p *keyward.Passkey) { p.UserID = "nobody" }, keyward.ErrNotFound},
	} {
		p := valid
		tt.change(&p)
		wantErr(t, "CreatePasskey("+tt.name+")", s.CreatePasskey(ctx, p), tt.want)
	}
	must(t, "CreatePasskey", s.CreatePasskey(ctx, valid))
	taken := fullPasskey(2, "u2")
	taken.ID = valid.ID
	wantErr(t, "CreatePasskey(id of another user's passkey)", s.CreatePasskey(ctx, taken), keyward.ErrConflict)
	got, err := s.GetPasskey(ctx, valid.ID)
	must(t, "GetPasskey", err)
	if got.UserID != "u1" {
		t.Errorf("after a conflicting create, the passkey belongs to %q, want u1", got.UserID)
	}
	longest := fullPasskey(3, "u1")
	longest.ID = bytes.Repeat([]byte{0xff}, keyward.MaxPasskeyIDLen)
	must(t, "CreatePasskey(longest id)", s.CreatePasskey(ctx, longest))

	_, err = s.GetPasskey(ctx, []byte("unknown"))
	wantErr(t, "GetPasskey(unknown)", err, keyward.ErrNotFound)
	wantErr(t, "UpdatePasskey(unknown)", s.UpdatePasskey(ctx, []byte("unknown"), func(*keyward.Passkey) error { return nil }), keyward.ErrNotFound)
	wantErr(t, "DeletePasskey(unknown)", s.DeletePasskey(ctx, []byte("unknown")), keyward.ErrNotFound)
}

func testPasskeyUpdate(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	newUser(t, s, "u1")
	newUser(t, s, "u2")
	p := fullPasskey(1, "u1")
	p.SignCount, p.BackupState, p.LastUsedAt, p.Transports = 5, false, time.Time{}, nil
	must(t, "CreatePasskey", s.CreatePasskey(ctx, p))

	want := normPasskey(p)
	want.Name, want.SignCount, want.BackupState, want.LastUsedAt = "phone", 6, true, norm(at(time.Hour))
	want.Transports, want.UserVerified = []string{"usb"}, false
	must(t, "UpdatePasskey", s.UpdatePasskey(ctx, p.ID, func(v *keyward.Passkey) error {
		if v.SignCount != 5 {
			t.Errorf("fn got SignCount %d, want the stored 5", v.SignCount)
		}
		v.Name, v.SignCount, v.BackupState, v.LastUsedAt = "phone", 6, true, at(time.Hour)
		v.Transports, v.UserVerified = []string{"usb"}, false
		return nil
	}))
	got, err := s.GetPasskey(ctx, p.ID)
	must(t, "GetPasskey", err)
	equal(t, "after UpdatePasskey", got, want)

	boom := errors.New("boom")
	for _, tt := range []struct {
		name string
		fn   func(*keyward.Passkey) error
		want error
	}{
		{"no change", func(v *keyward.Passkey) error { v.Name = "lost"; return keyward.ErrNoChange }, nil},
		{"fn error", func(v *keyward.Passkey) error { v.Name = "lost"; return boom }, boom},
		{"id", func(v *keyward.Passkey) error { v.ID = []byte("other"); return nil }, keyward.ErrInvalid},
		{"user", func(v *keyward.Passkey) error { v.UserID = "u2"; return nil }, keyward.ErrInvalid},
		{"public key", func(v *keyward.Passkey) error { v.PublicKey = []byte{9}; return nil }, keyward.ErrInvalid},
		{"backup eligibility", func(v *keyward.Passkey) error { v.BackupEligible = false; return nil }, keyward.ErrInvalid},
		{"creation", func(v *keyward.Passkey) error { v.CreatedAt = at(time.Hour); return nil }, keyward.ErrInvalid},
	} {
		wantErr(t, "UpdatePasskey("+tt.name+")", s.UpdatePasskey(ctx, p.ID, tt.fn), tt.want)
		got, err := s.GetPasskey(ctx, p.ID)
		must(t, "GetPasskey", err)
		equal(t, "after UpdatePasskey("+tt.name+")", got, want)
	}
}

func testPasskeyDelete(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	newUser(t, s, "u1")
	newUser(t, s, "u2")
	for i, u := range []string{"u1", "u1", "u1", "u2"} {
		must(t, "CreatePasskey", s.CreatePasskey(ctx, fullPasskey(i, u)))
	}
	must(t, "CreatePasskeyCeremony", s.CreatePasskeyCeremony(ctx, newCeremony("c1", "u1", at(time.Hour))))
	must(t, "CreatePasskeyCeremony", s.CreatePasskeyCeremony(ctx, newCeremony("c2", "u2", at(time.Hour))))
	must(t, "DeletePasskey", s.DeletePasskey(ctx, fullPasskey(0, "u1").ID))
	wantErr(t, "DeletePasskey again", s.DeletePasskey(ctx, fullPasskey(0, "u1").ID), keyward.ErrNotFound)
	n, err := s.DeleteUserPasskeys(ctx, "u1")
	must(t, "DeleteUserPasskeys", err)
	if n != 2 {
		t.Errorf("DeleteUserPasskeys(u1) = %d, want 2", n)
	}
	if list, _ := s.ListPasskeys(ctx, "u1"); len(list) != 0 {
		t.Errorf("u1 keeps %d passkeys", len(list))
	}
	_, err = s.ConsumePasskeyCeremony(ctx, hash("c1"), at(0))
	wantErr(t, "ConsumePasskeyCeremony(u1's, after DeleteUserPasskeys)", err, keyward.ErrNotFound)
	n, err = s.DeleteUserPasskeys(ctx, "u1")
	must(t, "DeleteUserPasskeys again", err)
	if n != 0 {
		t.Errorf("DeleteUserPasskeys(u1) again = %d, want 0", n)
	}

	// Resetting a user's second factors deletes its passkeys and
	// ceremonies.
	must(t, "CreatePasskey", s.CreatePasskey(ctx, fullPasskey(5, "u1")))
	must(t, "CreatePasskeyCeremony", s.CreatePasskeyCeremony(ctx, newCeremony("c3", "u1", at(time.Hour))))
	must(t, "DeleteUserFactors", s.DeleteUserFactors(ctx, "u1"))
	_, err = s.GetPasskey(ctx, fullPasskey(5, "u1").ID)
	wantErr(t, "GetPasskey(after DeleteUserFactors)", err, keyward.ErrNotFound)
	_, err = s.ConsumePasskeyCeremony(ctx, hash("c3"), at(0))
	wantErr(t, "ConsumePasskeyCeremony(after DeleteUserFactors)", err, keyward.ErrNotFound)

	// Deleting the user deletes its passkeys and ceremonies.
	must(t, "DeleteUser", s.DeleteUser(ctx, "u2"))
	_, err = s.GetPasskey(ctx, fullPasskey(3, "u2").ID)
	wantErr(t, "GetPasskey(deleted user's)", err, keyward.ErrNotFound)
	_, err = s.ConsumePasskeyCeremony(ctx, hash("c2"), at(0))
	wantErr(t, "ConsumePasskeyCeremony(deleted user's)", err, keyward.ErrNotFound)
	// A user made again with the same ID starts without passkeys.
	newUser(t, s, "u2")
	if list, _ := s.ListPasskeys(ctx, "u2"); len(list) != 0 {
		t.Errorf("a new u2 inherits %d passkeys", len(list))
	}
}

// newCeremony is a login ceremony of user named by the hash of name.
func newCeremony(name, user string, exp time.Time) keyward.PasskeyCeremony {
	return keyward.PasskeyCeremony{Hash: hash(name), Kind: keyward.PasskeyLogin, UserID: user, SessionID: "s-" + name,
		Data: []byte(`{"challenge":"` + name + `"}`), ExpiresAt: exp}
}

func testPasskeyCeremony(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	reg := keyward.PasskeyCeremony{Hash: hash("reg"), Kind: keyward.PasskeyRegistration, UserID: "u1", SessionID: "s1",
		Data: []byte{0, 1, 2, 0xff}, ExpiresAt: at(5 * time.Minute)}
	discoverable := keyward.PasskeyCeremony{Hash: hash("login"), Kind: keyward.PasskeyLogin, Data: []byte("x"), ExpiresAt: at(5 * time.Minute)}
	must(t, "CreatePasskeyCeremony", s.CreatePasskeyCeremony(ctx, reg))
	must(t, "CreatePasskeyCeremony", s.CreatePasskeyCeremony(ctx, discoverable))
	wantErr(t, "CreatePasskeyCeremony(same hash)", s.CreatePasskeyCeremony(ctx, reg), keyward.ErrConflict)
	for _, tt := range []struct {
		name   string
		change func(*keyward.PasskeyCeremony)
	}{
		{"empty hash", func(c *keyward.PasskeyCeremony) { c.Hash = nil }},
		{"unknown kind", func(c *keyward.PasskeyCeremony) { c.Kind = "other" }},
		{"empty data", func(c *keyward.PasskeyCeremony) { c.Data = nil }},
	} {
		c := newCeremony("invalid", "u1", at(time.Hour))
		tt.change(&c)
		wantErr(t, "CreatePasskeyCeremony("+tt.name+")", s.CreatePasskeyCeremony(ctx, c), keyward.ErrInvalid)
	}

	got, err := s.ConsumePasskeyCeremony(ctx, hash("reg"), at(5*time.Minute-time.Microsecond))
	must(t, "ConsumePasskeyCeremony", err)
	reg.ExpiresAt = norm(reg.ExpiresAt)
	equal(t, "ConsumePasskeyCeremony", got, reg)
	_, err = s.ConsumePasskeyCeremony(ctx, hash("reg"), at(0))
	wantErr(t, "ConsumePasskeyCeremony again", err, keyward.ErrNotFound)
	got, err = s.ConsumePasskeyCeremony(ctx, hash("login"), at(0))
	must(t, "ConsumePasskeyCeremony(discoverable)", err)
	discoverable.ExpiresAt = norm(discoverable.ExpiresAt)
	equal(t, "ConsumePasskeyCeremony(discoverable)", got, discoverable)
	_, err = s.ConsumePasskeyCeremony(ctx, nil, at(0))
	wantErr(t, "ConsumePasskeyCeremony(nil)", err, keyward.ErrNotFound)
}

func testPasskeyCeremonyExpired(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	for i := range 4 {
		must(t, "CreatePasskeyCeremony", s.CreatePasskeyCeremony(ctx, newCeremony(id("c", i), "u1", at(time.Duration(i)*time.Minute))))
	}
	// At its expiry a ceremony is refused, with its content, and gone.
	got, err := s.ConsumePasskeyCeremony(ctx, hash(id("c", 1)), at(time.Minute))
	wantErr(t, "ConsumePasskeyCeremony(at expiry)", err, keyward.ErrExpired)
	if got.UserID != "u1" || got.Kind != keyward.PasskeyLogin {
		t.Errorf("an expired ceremony comes back as %+v, want its content", got)
	}
	_, err = s.ConsumePasskeyCeremony(ctx, hash(id("c", 1)), at(0))
	wantErr(t, "ConsumePasskeyCeremony(expired, again)", err, keyward.ErrNotFound)

	n, err := s.DeleteExpiredPasskeyCeremonies(ctx, at(2*time.Minute))
	must(t, "DeleteExpiredPasskeyCeremonies", err)
	if n != 2 { // c-00 and c-02; c-01 was consumed
		t.Errorf("DeleteExpiredPasskeyCeremonies = %d, want 2", n)
	}
	if _, err := s.ConsumePasskeyCeremony(ctx, hash(id("c", 3)), at(0)); err != nil {
		t.Errorf("the ceremony expiring later: %v", err)
	}
}

// testConsumeCeremonyOnce races consumers of one ceremony: one gets it, so
// that a challenge is answered once.
func testConsumeCeremonyOnce(t *testing.T, stores []keyward.Store) {
	ctx := t.Context()
	must(t, "CreatePasskeyCeremony", stores[0].CreatePasskeyCeremony(ctx, newCeremony("race", "u1", at(time.Hour))))
	errs := race(stores, func(s keyward.Store, i int) error {
		_, err := s.ConsumePasskeyCeremony(ctx, hash("race"), at(0))
		return err
	})
	if ok, lost := count(t, errs, keyward.ErrNotFound); ok != 1 || lost != goroutines-1 {
		t.Errorf("%d consumers got the ceremony and %d ErrNotFound, want 1 and %d", ok, lost, goroutines-1)
	}
}

// testUpdatePasskeyNoLostUpdate races sign-count increments of one
// passkey: none is lost, so that two assertions with one counter value
// cannot both pass the issuer's check.
func testUpdatePasskeyNoLostUpdate(t *testing.T, stores []keyward.Store) {
	ctx := t.Context()
	must(t, "CreateUser", stores[0].CreateUser(ctx, keyward.User{ID: "u1", Username: "u1"}))
	p := fullPasskey(1, "u1")
	p.SignCount = 0
	must(t, "CreatePasskey", stores[0].CreatePasskey(ctx, p))
	errs := race(stores, func(s keyward.Store, i int) error {
		return s.UpdatePasskey(ctx, p.ID, func(v *keyward.Passkey) error {
			v.SignCount++
			return nil
		})
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("goroutine %d: %v", i, err)
		}
	}
	got, err := stores[0].GetPasskey(ctx, p.ID)
	must(t, "GetPasskey", err)
	if got.SignCount != goroutines {
		t.Errorf("SignCount = %d after %d increments: %s", got.SignCount, goroutines, fmt.Sprint(goroutines-int(got.SignCount))+" lost")
	}
}
