package server

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

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

// TestRevocationFeedBoundedFlood is the feed-inflation loop at its worst:
// 20 000 login, refresh and revocation rounds from one account, each
// revoking a refresh-token family, with every throttle off and a clock that
// lets no entry expire. The feed's full state stays under floodFullStateMax
// (without coalescing it would hold 20 000 family entries, past a
// verifier's 1 MiB cap), and a victim's revocation made after the flood
// reaches a verifier following the feed.
func TestRevocationFeedBoundedFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("20 000 rounds: about 45 s")
	}
	t.Parallel()
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
	login := func(name string) *issuer.TokenResponse {
		t.Helper()
		resp, err := iss.Login(ctx, issuer.LoginRequest{Username: name, Password: name + "-password", RemoteAddr: "192.0.2.1:1"})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	const pairs = 20_000
	for i := range pairs {
		resp, err := iss.Refresh(ctx, issuer.RefreshRequest{Token: login("mallory").RefreshToken})
		if err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
		if err := iss.Revoke(ctx, issuer.RevokeRequest{Token: resp.RefreshToken}); err != nil {
			t.Fatalf("revocation %d: %v", i, err)
		}
		clk.Add(10 * time.Millisecond) // 200 s in all: no entry expires
	}
	state, err := revocationState(ctx, store, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(state)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after %d pairs: full state %d bytes, %d families, %d users", pairs, len(b), len(state.Families), len(state.Users))
	if len(b) > floodFullStateMax || len(state.Families) > issuer.UserGrantLimit || len(state.Users) != 1 {
		t.Fatalf("full state after the flood: %d bytes, %d families, %d users; want at most %d bytes, %d families, one user",
			len(b), len(state.Families), len(state.Users), floodFullStateMax, issuer.UserGrantLimit)
	}

	s := &Server{cfg: Config{Revocations: store, Now: clk.Now}}
	list, err := verifier.NewRevocationList(verifier.RevocationConfig{URL: "http://issuer.test/revocations",
		Client: &http.Client{Transport: handlerTransport{s.revocations}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := list.Refresh(ctx); err != nil {
		t.Fatalf("the verifier's first fetch after the flood: %v", err)
	}
	victim := login("victim")
	jws, err := jose.Parse(victim.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := jose.ParseClaims(jws.UnsafePayload())
	if err != nil {
		t.Fatal(err)
	}
	if err := list.Check(claims); err != nil {
		t.Fatalf("the victim's token before its revocation: %v", err)
	}
	if err := iss.Revoke(ctx, issuer.RevokeRequest{Token: victim.RefreshToken}); err != nil {
		t.Fatal(err)
	}
	if err := list.Refresh(ctx); err != nil {
		t.Fatalf("the verifier's fetch after the victim's revocation: %v", err)
	}
	if err := list.Check(claims); !errors.Is(err, verifier.ErrRevoked) {
		t.Fatalf("the victim's token after its revocation: Check = %v, want ErrRevoked", err)
	}
}
