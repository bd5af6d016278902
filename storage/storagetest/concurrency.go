package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// goroutines is how many callers race in each concurrency check.
const goroutines = 32

// NewReplicas returns n stores opened on one fresh database, as n issuer
// processes would open it. It should close them with t.Cleanup.
type NewReplicas func(t *testing.T, n int) []keyward.Store

// RunConcurrency checks the contracts concurrent callers rely on, with
// goroutines racing on one store made by newStore: one key rotation however
// many callers decide to rotate, one winner among the rotations of a refresh
// token, one user per username, one exchange per authorization code, one use
// per client-assertion jti, one renewal of a session per cookie, no lost
// update, and no refresh token surviving an authorization code redeemed
// twice at once.
func RunConcurrency(t *testing.T, newStore NewStore) {
	t.Helper()
	runConcurrency(t, func(t *testing.T) []keyward.Store { return []keyward.Store{newStore(t)} })
}

// RunReplicas runs the checks of [RunConcurrency] with the goroutines spread
// over several stores sharing one database, for the backends that serve
// several issuer processes.
func RunReplicas(t *testing.T, newReplicas NewReplicas) {
	t.Helper()
	runConcurrency(t, func(t *testing.T) []keyward.Store { return newReplicas(t, 4) })
}

func runConcurrency(t *testing.T, newStores func(t *testing.T) []keyward.Store) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, stores []keyward.Store)
	}{
		{name: "RotateKeysOnce", run: testRotateKeysOnce},
		{name: "RotateRefreshTokenOnce", run: testRotateRefreshOnce},
		{name: "CreateUserOnce", run: testCreateUserOnce},
		{name: "ConsumeAuthCodeOnce", run: testConsumeCodeOnce},
		{name: "UseJTIOnce", run: testUseJTIOnce},
		{name: "UpdateUserNoLostUpdate", run: testUpdateUserNoLostUpdate},
		{name: "RenewSessionOnce", run: testRenewSessionOnce},
		{name: "CodeExchangeRace", run: testCodeExchangeRace},
		{name: "ClaimBackchannelOnce", run: testClaimBackchannelOnce},
		{name: "QueueBackchannelBounded", run: testQueueBackchannelBounded},
		{name: "ConsumePasskeyCeremonyOnce", run: testConsumeCeremonyOnce},
		{name: "UpdatePasskeyNoLostUpdate", run: testUpdatePasskeyNoLostUpdate},
		{name: "TakeBucketsExactlyBurst", run: testTakeBucketsBurst},
	}
	for _, tt := range tests {
		t.Run("Concurrency/"+tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, newStores(t))
		})
	}
}

// race runs fn for i in [0, goroutines) at once, each on one of the stores in
// turn, and returns the errors by i.
func race(stores []keyward.Store, fn func(s keyward.Store, i int) error) []error {
	errs := make([]error, goroutines)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range goroutines {
		wg.Go(func() {
			<-start
			errs[i] = fn(stores[i%len(stores)], i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// count returns how many errors are nil and how many wrap target, and fails
// the test on any other error.
func count(t *testing.T, errs []error, target error) (ok, matched int) {
	t.Helper()
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, target):
			matched++
		default:
			t.Errorf("goroutine %d: unexpected error %v", i, err)
		}
	}
	return ok, matched
}

func testRotateKeysOnce(t *testing.T, stores []keyward.Store) {
	ctx := t.Context()
	setKeys(t, stores[0], key("initial", keyward.KeyActive, -48*time.Hour))
	now := at(0)
	const maxAge = 24 * time.Hour
	errs := race(stores, func(s keyward.Store, i int) error {
		// Slow work (generating the key) happens before UpdateKeys.
		fresh := key(fmt.Sprintf("k-%02d", i), keyward.KeyActive, 0)
		return s.UpdateKeys(ctx, func(cur []keyward.SigningKey) ([]keyward.SigningKey, error) {
			if len(cur) > 0 && now.Sub(cur[len(cur)-1].CreatedAt) < maxAge {
				return nil, keyward.ErrNoChange
			}
			for j := range cur {
				if cur[j].State == keyward.KeyActive {
					cur[j].State, cur[j].RetireAt = keyward.KeyRetired, now
				}
			}
			return append(cur, fresh), nil
		})
	})
	if ok, _ := count(t, errs, nil); ok != goroutines {
		t.Errorf("%d of %d UpdateKeys calls succeeded", ok, goroutines)
	}
	keys := listKeys(t, stores[0])
	if len(keys) != 2 {
		t.Fatalf("ListKeys() = %d keys, want the initial one and exactly one rotation: %+v", len(keys), keys)
	}
	if keys[0].ID != "initial" || keys[0].State != keyward.KeyRetired || keys[1].State != keyward.KeyActive {
		t.Errorf("ListKeys() = %+v, want initial retired and one active key", keys)
	}
}

func testRotateRefreshOnce(t *testing.T, stores []keyward.Store) {
	ctx := t.Context()
	must(t, "CreateRefreshToken", stores[0].CreateRefreshToken(ctx, refreshToken("root", "fam")))
	errs := race(stores, func(s keyward.Store, i int) error {
		_, err := s.RotateRefreshToken(ctx, hash("root"), keyward.RefreshToken{Hash: hash(id("next", i))}, at(0))
		return err
	})
	ok, reused := count(t, errs, keyward.ErrRefreshReused)
	if ok != 1 || reused != goroutines-1 {
		t.Fatalf("%d rotations succeeded and %d saw ErrRefreshReused, want 1 and %d", ok, reused, goroutines-1)
	}
	for i, err := range errs {
		r, getErr := stores[0].GetRefreshToken(ctx, hash(id("next", i)))
		if err != nil {
			wantErr(t, "GetRefreshToken(loser's next)", getErr, keyward.ErrNotFound)
			continue
		}
		must(t, "GetRefreshToken(winner's next)", getErr)
		if r.RevokedAt.IsZero() || r.FamilyID != "fam" {
			t.Errorf("winner's token = %+v, want it in family fam and revoked by the reuse", r)
		}
	}
	if r := getRefresh(t, stores[0], "root"); r.RevokedAt.IsZero() || r.UsedAt.IsZero() {
		t.Errorf("root token = %+v, want it used and revoked", r)
	}
}

func testCreateUserOnce(t *testing.T, stores []keyward.Store) {
	ctx := t.Context()
	errs := race(stores, func(s keyward.Store, i int) error {
		return s.CreateUser(ctx, keyward.User{ID: id("user", i), Username: "same"})
	})
	if ok, conflicts := count(t, errs, keyward.ErrConflict); ok != 1 || conflicts != goroutines-1 {
		t.Errorf("%d creations succeeded and %d conflicted, want 1 and %d", ok, conflicts, goroutines-1)
	}
	users, err := stores[0].ListUsers(ctx)
	must(t, "ListUsers", err)
	if len(users) != 1 {
		t.Errorf("ListUsers() = %+v, want one user", users)
	}
}

func testConsumeCodeOnce(t *testing.T, stores []keyward.Store) {
	ctx := t.Context()
	must(t, "CreateAuthCode", stores[0].CreateAuthCode(ctx, authCode("code")))
	errs := race(stores, func(s keyward.Store, i int) error {
		_, err := s.ConsumeAuthCode(ctx, hash("code"), at(0))
		return err
	})
	if ok, reused := count(t, errs, keyward.ErrCodeReused); ok != 1 || reused != goroutines-1 {
		t.Errorf("%d exchanges succeeded and %d saw ErrCodeReused, want 1 and %d", ok, reused, goroutines-1)
	}
}

func testUseJTIOnce(t *testing.T, stores []keyward.Store) {
	ctx := t.Context()
	errs := race(stores, func(s keyward.Store, i int) error {
		return s.UseJTI(ctx, "client", "jti", at(time.Minute))
	})
	if ok, conflicts := count(t, errs, keyward.ErrConflict); ok != 1 || conflicts != goroutines-1 {
		t.Errorf("%d uses succeeded and %d conflicted, want 1 and %d", ok, conflicts, goroutines-1)
	}
}

func testUpdateUserNoLostUpdate(t *testing.T, stores []keyward.Store) {
	ctx := t.Context()
	must(t, "CreateUser", stores[0].CreateUser(ctx, keyward.User{ID: "u", Username: "counter", Attributes: map[string]any{"n": 0.0}}))
	errs := race(stores, func(s keyward.Store, i int) error {
		return s.UpdateUser(ctx, "u", func(u *keyward.User) error {
			n, _ := u.Attributes["n"].(float64)
			u.Attributes["n"] = n + 1
			return nil
		})
	})
	if ok, _ := count(t, errs, nil); ok != goroutines {
		t.Errorf("%d of %d updates succeeded", ok, goroutines)
	}
	u, err := stores[0].GetUser(ctx, "u")
	must(t, "GetUser", err)
	if n := u.Attributes["n"]; n != float64(goroutines) {
		t.Errorf("counter = %v after %d increments", n, goroutines)
	}
}

// testRenewSessionOnce renews one session from many callers that all hold
// its first cookie, as browsers racing to log in again would: fn sees the
// cookie hash the winner stored, so exactly one renewal succeeds and the
// session ends up with the winner's cookie.
func testRenewSessionOnce(t *testing.T, stores []keyward.Store) {
	ctx := t.Context()
	first := newSession("s", "u")
	must(t, "CreateSession", stores[0].CreateSession(ctx, first))
	errStale := errors.New("cookie already replaced")
	errs := race(stores, func(s keyward.Store, i int) error {
		return s.UpdateSession(ctx, "s", func(v *keyward.Session) error {
			if !bytes.Equal(v.CookieHash, first.CookieHash) {
				return errStale
			}
			v.CookieHash, v.AuthTime = hash(id("renewed", i)), at(time.Duration(i+1)*time.Second)
			return nil
		})
	})
	ok, stale := count(t, errs, errStale)
	if ok != 1 || stale != goroutines-1 {
		t.Fatalf("%d renewals succeeded and %d saw the new cookie, want 1 and %d", ok, stale, goroutines-1)
	}
	winner := slices.IndexFunc(errs, func(err error) bool { return err == nil })
	got := getSession(t, stores[0], "s")
	if !bytes.Equal(got.CookieHash, hash(id("renewed", winner))) || !got.AuthTime.Equal(norm(at(time.Duration(winner+1)*time.Second))) {
		t.Errorf("session after the race %+v, want the renewal of caller %d", got, winner)
	}
}

// testCodeExchangeRace redeems one authorization code from several callers
// at once, 50 rounds each with 2 and with 8 callers, driving the store as
// the issuer does: the caller whose ConsumeAuthCode succeeds reads the
// client and the user and then creates the first refresh token of the
// code's family; every caller that gets ErrCodeReused revokes that family
// (RFC 6749 §4.1.2). In odd rounds the winner is slow, as an issuer
// minting tokens can be: it creates its refresh token only once a loser has
// revoked the family. Whatever the interleaving, once a reuse was seen no
// refresh token of the code may work: the winner's is either refused at
// creation (ErrRevoked) or stored revoked.
func testCodeExchangeRace(t *testing.T, stores []keyward.Store) {
	ctx := t.Context()
	now := at(0)
	for _, callers := range []int{2, 8} {
		survived := 0
		for round := range 50 {
			name := fmt.Sprintf("code-%d-%02d", callers, round)
			family := "fam-" + name
			must(t, "CreateAuthCode", stores[0].CreateAuthCode(ctx, authCode(name)))
			errs := make([]error, callers)
			created := make([]bool, callers)
			start, revoked := make(chan struct{}), make(chan struct{})
			var revokedOnce sync.Once
			var wg sync.WaitGroup
			for i := range callers {
				wg.Go(func() {
					s := stores[i%len(stores)]
					<-start
					code, err := s.ConsumeAuthCode(ctx, hash(name), now)
					switch {
					case errors.Is(err, keyward.ErrCodeReused):
						errs[i] = s.RevokeRefreshFamily(ctx, family, now)
						revokedOnce.Do(func() { close(revoked) })
						return
					case err != nil:
						errs[i] = err
						return
					}
					// The issuer's checks between the two calls.
					if _, err := s.GetClient(ctx, code.ClientID); !errors.Is(err, keyward.ErrNotFound) {
						errs[i] = fmt.Errorf("GetClient: %w", err)
						return
					}
					if _, err := s.GetUser(ctx, code.UserID); !errors.Is(err, keyward.ErrNotFound) {
						errs[i] = fmt.Errorf("GetUser: %w", err)
						return
					}
					if round%2 == 1 {
						select {
						case <-revoked:
						case <-ctx.Done():
							errs[i] = ctx.Err()
							return
						}
					}
					r := refreshToken(name+"-rt", family)
					r.IssuedAt = now
					err = s.CreateRefreshToken(ctx, r)
					if err == nil {
						created[i] = true
					} else if !errors.Is(err, keyward.ErrRevoked) {
						errs[i] = fmt.Errorf("CreateRefreshToken: %w", err)
					}
				})
			}
			close(start)
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatalf("%d callers, round %d: %v", callers, round, err)
			}
			if !slices.Contains(created, true) {
				_, err := stores[0].GetRefreshToken(ctx, hash(name+"-rt"))
				wantErr(t, "GetRefreshToken(refused token)", err, keyward.ErrNotFound)
				continue
			}
			_, err := stores[0].RotateRefreshToken(ctx, hash(name+"-rt"), keyward.RefreshToken{Hash: hash(name + "-next")}, now)
			if !errors.Is(err, keyward.ErrRevoked) {
				survived++
				t.Errorf("%d callers, round %d: rotating the winner's refresh token after the code's reuse: error = %v, want ErrRevoked", callers, round, err)
			}
		}
		if survived > 0 {
			t.Errorf("%d callers: a refresh token survived the code's reuse in %d of 50 rounds", callers, survived)
		}
	}
}
