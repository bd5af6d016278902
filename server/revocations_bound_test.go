package server

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/issuer"
	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/storage/memory"
	"github.com/keyward/keyward/verifier"
)

// floodFullStateMax is the size the full state of the feed stays under
// after the flood of TestRevocationFeedBoundedFlood: one user cutoff and at
// most issuer.UserGrantLimit family entries of the flooding user, and the
// victim's entry, with the JSON around them (docs/revocation.md, "Bounds").
const floodFullStateMax = 2 << 10

// floodIssuer is an issuer on a memory store with every throttle off and a
// fake clock, with the users mallory and victim and the confidential
// client "svc" of the client_credentials grant, for the flood tests.
type floodIssuer struct {
	store *memory.Store
	iss   *issuer.Issuer
	clk   *fakeClock
	svc   keyward.Client
	// follower follows the feed's changes through the flood, as a
	// long-polling verifier does.
	follower *verifier.RevocationList
}

// newFloodIssuer returns a floodIssuer.
func newFloodIssuer(t *testing.T) *floodIssuer {
	t.Helper()
	ctx := t.Context()
	clk := newFakeClock()
	store := memory.New(memory.Config{Now: clk.Now})
	sealer, err := issuer.NewSealer(masterKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	km, err := issuer.NewKeyManager(issuer.KeyManagerConfig{Store: store, Sealer: sealer, Alg: jose.ES256, JWKSMaxAge: 5 * time.Minute, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := km.Step(ctx); err != nil {
		t.Fatal(err)
	}
	params := issuer.PasswordParams{Memory: 64, Time: 1, Threads: 1}
	iss, err := issuer.New(issuer.Config{
		Store: store, Keys: km, Issuer: "https://issuer.test", Password: params, Now: clk.Now,
		Throttle:      issuer.ThrottleConfig{InsecureDisableThrottle: true},
		TokenThrottle: issuer.TokenThrottleConfig{InsecureDisableThrottle: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"mallory", "victim"} {
		if _, err := issuer.NewUser(ctx, store, name, name+"-password", nil, nil, params, nil); err != nil {
			t.Fatal(err)
		}
	}
	svc := keyward.Client{ID: "svc", GrantTypes: []string{issuer.GrantClientCredentials}, SecretHash: issuer.HashClientSecret("svc-secret")}
	if err := store.CreateClient(ctx, svc); err != nil {
		t.Fatal(err)
	}
	f := &floodIssuer{store: store, iss: iss, clk: clk, svc: svc}
	f.follower = f.newList(t)
	if err := f.follower.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	return f
}

// newList returns a verifier's list of the feed of f.
func (f *floodIssuer) newList(t *testing.T) *verifier.RevocationList {
	t.Helper()
	s := &Server{cfg: Config{Revocations: f.store, Now: f.clk.Now}}
	list, err := verifier.NewRevocationList(verifier.RevocationConfig{URL: "http://issuer.test/revocations",
		Client: &http.Client{Transport: handlerTransport{s.revocations}}, Now: f.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// step ends round i of a flood: the clock moves 10 ms (200 s over 20 000
// rounds: no entry expires), and every 10 rounds the follower fetches the
// changes.
func (f *floodIssuer) step(t *testing.T, i int) {
	t.Helper()
	f.clk.Add(10 * time.Millisecond)
	if i%10 == 9 {
		if err := f.follower.Refresh(t.Context()); err != nil {
			t.Fatalf("the follower's fetch at round %d: %v", i, err)
		}
	}
}

// login logs the user in with the password newFloodIssuer gave them.
func (f *floodIssuer) login(t *testing.T, name string) *issuer.TokenResponse {
	t.Helper()
	resp, err := f.iss.Login(t.Context(), issuer.LoginRequest{Username: name, Password: name + "-password", RemoteAddr: "192.0.2.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// checkBound fails the test unless the feed's full state is under
// floodFullStateMax with at most issuer.UserGrantLimit entries of the
// flooding subject (tokens, sessions and families) and one cutoff, then
// checks that a victim's revocation made after the flood reaches a
// verifier following the feed: one of a refresh token (its family) and
// one of an access token (its jti).
func (f *floodIssuer) checkBound(t *testing.T, rounds int) {
	t.Helper()
	ctx := t.Context()
	state, err := revocationState(ctx, f.store, f.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(state)
	if err != nil {
		t.Fatal(err)
	}
	entries := len(state.Tokens) + len(state.Sessions) + len(state.Families)
	t.Logf("after %d rounds: full state %d bytes, %d tokens, %d sessions, %d families, %d users",
		rounds, len(b), len(state.Tokens), len(state.Sessions), len(state.Families), len(state.Users))
	if len(b) > floodFullStateMax || entries > issuer.UserGrantLimit || len(state.Users) != 1 {
		t.Fatalf("full state after the flood: %d bytes, %d entries, %d users; want at most %d bytes, %d entries, one user",
			len(b), entries, len(state.Users), floodFullStateMax, issuer.UserGrantLimit)
	}

	// A verifier that followed the changes through the flood holds no more
	// than the full state's bound: the subject's cutoff stands in for its
	// entries in the changes too.
	if err := f.follower.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	st := f.follower.Status()
	t.Logf("the follower holds %d tokens, %d sessions, %d families, %d users", st.Tokens, st.Sessions, st.Families, st.Users)
	if held := st.Tokens + st.Sessions + st.Families; held > issuer.UserGrantLimit || st.Users != 1 {
		t.Fatalf("a verifier following the flood holds %d entries and %d cutoffs, want at most %d and one", held, st.Users, issuer.UserGrantLimit)
	}

	list := f.newList(t)
	if err := list.Refresh(ctx); err != nil {
		t.Fatalf("the verifier's first fetch after the flood: %v", err)
	}
	for _, revoke := range []struct {
		name  string
		token func(*issuer.TokenResponse) string
	}{
		{"refresh token", func(r *issuer.TokenResponse) string { return r.RefreshToken }},
		{"access token", func(r *issuer.TokenResponse) string { return r.AccessToken }},
	} {
		victim := f.login(t, "victim")
		claims := tokenClaims(t, victim.AccessToken)
		if err := list.Check(claims); err != nil {
			t.Fatalf("the victim's token before the revocation of its %s: %v", revoke.name, err)
		}
		if err := f.iss.Revoke(ctx, issuer.RevokeRequest{Token: revoke.token(victim)}); err != nil {
			t.Fatal(err)
		}
		if err := list.Refresh(ctx); err != nil {
			t.Fatalf("the verifier's fetch after the victim's revocation: %v", err)
		}
		if err := list.Check(claims); !errors.Is(err, verifier.ErrRevoked) {
			t.Fatalf("the victim's token after the revocation of its %s: Check = %v, want ErrRevoked", revoke.name, err)
		}
		f.clk.Add(time.Second)
	}
}

// tokenClaims returns the claims of a JWT, unverified.
func tokenClaims(t *testing.T, token string) *jose.Claims {
	t.Helper()
	jws, err := jose.Parse(token)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := jose.ParseClaims(jws.UnsafePayload())
	if err != nil {
		t.Fatal(err)
	}
	return claims
}

// TestRevocationFeedBoundedFlood is the feed-inflation loop at its worst:
// 20 000 login, refresh and revocation rounds from one account, each
// revoking a refresh-token family, with every throttle off and a clock that
// lets no entry expire. The feed's full state stays under floodFullStateMax
// (without coalescing it would hold 20 000 family entries, past a
// verifier's 1 MiB cap), and a victim's revocation made after the flood
// reaches a verifier following the feed.
func TestRevocationFeedBoundedFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("20 000 rounds")
	}
	t.Parallel()
	ctx := t.Context()
	f := newFloodIssuer(t)
	const pairs = 20_000
	for i := range pairs {
		resp, err := f.iss.Refresh(ctx, issuer.RefreshRequest{Token: f.login(t, "mallory").RefreshToken})
		if err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
		if err := f.iss.Revoke(ctx, issuer.RevokeRequest{Token: resp.RefreshToken}); err != nil {
			t.Fatalf("revocation %d: %v", i, err)
		}
		f.step(t, i)
	}
	f.checkBound(t, pairs)
}

// TestRevocationFeedBoundedTokenFlood revokes access tokens (RFC 7009, each
// a jti entry) in a bounded loop as fast as one account can, throttles off
// and no entry expiring: a user's tokens, each minted by a refresh of one
// family, and a client's own client_credentials tokens. Past
// issuer.UserGrantLimit entries of one subject the issuer publishes a
// cutoff for the subject instead, so the full state stays under
// floodFullStateMax (without it, 20 000 jti entries would pass a
// verifier's 1 MiB cap), and a victim's revocation made after the flood
// reaches a verifier following the feed.
func TestRevocationFeedBoundedTokenFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("20 000 rounds each")
	}
	t.Parallel()
	const rounds = 20_000
	for _, tc := range []struct {
		name  string
		flood func(t *testing.T, f *floodIssuer)
	}{
		{"user", func(t *testing.T, f *floodIssuer) {
			refresh := f.login(t, "mallory").RefreshToken
			for i := range rounds {
				resp, err := f.iss.Refresh(t.Context(), issuer.RefreshRequest{Token: refresh})
				if err != nil {
					t.Fatalf("refresh %d: %v", i, err)
				}
				refresh = resp.RefreshToken
				if err := f.iss.Revoke(t.Context(), issuer.RevokeRequest{Token: resp.AccessToken, TokenTypeHint: "access_token"}); err != nil {
					t.Fatalf("revocation %d: %v", i, err)
				}
				f.step(t, i)
			}
		}},
		{"client credentials", func(t *testing.T, f *floodIssuer) {
			for i := range rounds {
				resp, err := f.iss.ClientCredentials(t.Context(), f.svc, "")
				if err != nil {
					t.Fatalf("token %d: %v", i, err)
				}
				if err := f.iss.Revoke(t.Context(), issuer.RevokeRequest{Token: resp.AccessToken, Client: &f.svc}); err != nil {
					t.Fatalf("revocation %d: %v", i, err)
				}
				f.step(t, i)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFloodIssuer(t)
			tc.flood(t, f)
			f.checkBound(t, rounds)
		})
	}
}
