package issuer

import (
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/jose"
)

// TestUserGrantCoalescing revokes more refresh-token families of one user
// than UserGrantLimit, on every backend: past the limit the issuer
// publishes a cutoff for the user, which refuses the access tokens of every
// family revoked so far, and the feed keeps at most UserGrantLimit of the
// user's grants; the issuer still knows every family revoked, and another
// user's revocations are untouched.
func TestUserGrantCoalescing(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			f := newFixture(t, b.open(t, clk.Now), clk, func(c *Config) {
				c.TokenThrottle = TokenThrottleConfig{InsecureDisableThrottle: true}
			})
			ctx := t.Context()
			alice := f.addUser(t, "alice", "alice-password", nil)
			bob := f.addUser(t, "bob", "bob-password", nil)
			type revoked struct {
				family string
				iat    time.Time
			}
			revoke := func(u keyward.User) revoked {
				t.Helper()
				tok, err := f.issuer.newRefreshFamily(ctx, clk.Now(), keyward.RefreshToken{UserID: u.ID, ClientID: FirstPartyClientID, Audience: []string{"api"}})
				if err != nil {
					t.Fatal(err)
				}
				rt, err := f.store.GetRefreshToken(ctx, hashToken(tok))
				if err != nil {
					t.Fatal(err)
				}
				iat := clk.Now()
				if err := f.issuer.Revoke(ctx, RevokeRequest{Token: tok}); err != nil {
					t.Fatal(err)
				}
				clk.Add(300 * time.Millisecond)
				return revoked{rt.FamilyID, iat}
			}
			revoke(bob)
			var all []revoked
			for range UserGrantLimit + 5 {
				all = append(all, revoke(alice))
			}
			grants, err := f.store.ListRevokedGrants(ctx, clk.Now())
			if err != nil {
				t.Fatal(err)
			}
			perUser := map[string]int{}
			for _, g := range grants {
				perUser[g.UserID]++
			}
			// Alice's cutoff, raised with each revocation past the limit,
			// covers every family revoked before it.
			if perUser[alice.ID] > UserGrantLimit || perUser[bob.ID] != 1 {
				t.Fatalf("grants in the feed per user = %v, want alice's at most %d and bob's 1", perUser, UserGrantLimit)
			}
			if n, err := f.store.CountUserEntries(ctx, alice.ID, clk.Now(), UserGrantLimit); err != nil || n != UserGrantLimit {
				t.Errorf("CountUserEntries(alice) = %d, %v; want %d", n, err, UserGrantLimit)
			}
			users, err := f.store.ListUserRevocations(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(users) != 1 || users[0].UserID != alice.ID {
				t.Fatalf("user cutoffs = %+v, want alice's alone", users)
			}
			published := map[string]bool{}
			for _, g := range grants {
				published[g.ID] = true
			}
			// Every family revoked is refused, by its entry or by the
			// cutoff (a token's iat has whole seconds, so a cutoff refuses
			// a token whose iat is before its second rounded up), and the
			// issuer still knows it.
			before := users[0].Before
			for i, r := range all {
				iat := jose.NewNumericDate(r.iat).Time()
				if !published[r.family] && !iat.Before(before) {
					t.Errorf("family %d (iat %v) neither in the feed nor before the cutoff %v", i, iat, before)
				}
				if ok, err := f.store.IsGrantRevoked(ctx, keyward.GrantFamily, r.family); err != nil || !ok {
					t.Errorf("IsGrantRevoked(family %d) = %v, %v; want true", i, ok, err)
				}
			}
			if !strings.Contains(f.log.String(), `"user_grants_coalesced"`) {
				t.Error("no user_grants_coalesced event logged")
			}
		})
	}
}

// TestIssuerAppliesCutoffs checks that introspection and userinfo refuse
// what the revocation feed refuses at a verifier: an access token issued
// before its user's cutoff (a password change, which leaves the user
// enabled) and a client_credentials token issued before its client's
// cutoff (coalesced jti revocations), while a token issued after the
// cutoff stays active.
func TestIssuerAppliesCutoffs(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			f, u, c := codeFixture(t, b, nil)
			ctx := t.Context()
			svc := keyward.Client{ID: "svc", GrantTypes: []string{GrantClientCredentials}, SecretHash: HashClientSecret("svc-secret")}
			if err := f.store.CreateClient(ctx, svc); err != nil {
				t.Fatal(err)
			}
			_, sess, err := f.issuer.StartSession(ctx, LoginRequest{Username: "alice", Password: "correct horse battery staple", RemoteAddr: "192.0.2.1:5"})
			if err != nil {
				t.Fatal(err)
			}
			userToken := func() string {
				t.Helper()
				resp, err := f.issuer.ExchangeCode(ctx, CodeRequest{Code: f.code(t, c, sess, "openid"), RedirectURI: c.RedirectURIs[0],
					CodeVerifier: testVerifier, ClientID: "spa"})
				if err != nil {
					t.Fatal(err)
				}
				return resp.AccessToken
			}
			clientToken := func() string {
				t.Helper()
				resp, err := f.issuer.ClientCredentials(ctx, svc, "")
				if err != nil {
					t.Fatal(err)
				}
				return resp.AccessToken
			}
			active := func(client keyward.Client, token string) bool {
				t.Helper()
				in, err := f.issuer.Introspect(ctx, client, token)
				if err != nil {
					t.Fatal(err)
				}
				return in.Active
			}
			oldUser, oldClient := userToken(), clientToken()
			if !active(c, oldUser) || !active(svc, oldClient) {
				t.Fatal("tokens inactive before any cutoff")
			}
			f.clock.Add(1500 * time.Millisecond)
			// A password change ends the user's access; the user stays
			// enabled. A client's cutoff is what coalescing publishes.
			if err := EndUserAccess(ctx, f.store, u.ID, f.clock.Now()); err != nil {
				t.Fatal(err)
			}
			if err := f.store.RevokeUser(ctx, keyward.UserRevocation{UserID: svc.ID, Before: f.clock.Now()}); err != nil {
				t.Fatal(err)
			}
			if active(c, oldUser) {
				t.Error("introspection: a token issued before its user's cutoff is active")
			}
			if active(svc, oldClient) {
				t.Error("introspection: a client_credentials token issued before its client's cutoff is active")
			}
			_, err = f.issuer.UserInfo(ctx, oldUser)
			wantCode(t, err, CodeInvalidToken)

			f.clock.Add(time.Second)
			_, sess, err = f.issuer.StartSession(ctx, LoginRequest{Username: "alice", Password: "correct horse battery staple", RemoteAddr: "192.0.2.1:5"})
			if err != nil {
				t.Fatal(err)
			}
			newUser, newClient := userToken(), clientToken()
			if !active(c, newUser) || !active(svc, newClient) {
				t.Error("introspection: a token issued after its subject's cutoff is inactive")
			}
			if _, err := f.issuer.UserInfo(ctx, newUser); err != nil {
				t.Errorf("UserInfo of a token issued after the cutoff: %v", err)
			}
		})
	}
}
