package issuer

import (
	"errors"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// TestRefreshRevokeFlood is the feed-inflation loop: refresh, then revoke
// the new access token, again and again from one account. With the
// defaults the family's bucket answers slow_down after 10 refreshes, with
// a Retry-After of at most a minute; another user's refresh and revocation
// are unaffected, and the family refreshes again once its bucket refills.
func TestRefreshRevokeFlood(t *testing.T) {
	t.Parallel()
	clk := newClock()
	f := newFixture(t, backends(t)[0].open(t, clk.Now), clk, nil)
	f.addUser(t, "alice", "alice-password", nil)
	f.addUser(t, "bob", "bob-password", nil)
	ctx := t.Context()
	login := func(user, pw string) *TokenResponse {
		t.Helper()
		resp, err := f.issuer.Login(ctx, LoginRequest{Username: user, Password: pw, RemoteAddr: "192.0.2.1:1"})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	alice := login("alice", "alice-password")
	rt, pairs := alice.RefreshToken, 0
	var throttled *Error
	for pairs < 1000 {
		resp, err := f.issuer.Refresh(ctx, RefreshRequest{Token: rt})
		if err != nil {
			if !errors.As(err, &throttled) || throttled.Code != CodeSlowDown {
				t.Fatalf("refresh %d: %v, want success or slow_down", pairs+1, err)
			}
			break
		}
		if err := f.issuer.Revoke(ctx, RevokeRequest{Token: resp.AccessToken}); err != nil {
			t.Fatalf("revoke %d: %v", pairs+1, err)
		}
		rt = resp.RefreshToken
		pairs++
	}
	if pairs != 10 {
		t.Fatalf("%d refresh+revoke pairs before slow_down, want 10", pairs)
	}
	if throttled.RetryAfter <= 0 || throttled.RetryAfter > time.Minute {
		t.Fatalf("Retry-After %v, want within (0, 1m]", throttled.RetryAfter)
	}
	bob := login("bob", "bob-password")
	resp, err := f.issuer.Refresh(ctx, RefreshRequest{Token: bob.RefreshToken})
	if err != nil {
		t.Fatalf("another user's refresh: %v", err)
	}
	if err := f.issuer.Revoke(ctx, RevokeRequest{Token: resp.AccessToken}); err != nil {
		t.Fatalf("another user's revocation: %v", err)
	}
	clk.Add(throttled.RetryAfter)
	if _, err := f.issuer.Refresh(ctx, RefreshRequest{Token: rt}); err != nil {
		t.Fatalf("refresh after Retry-After: %v", err)
	}
}

// TestTokenThrottlePerClient checks the client's bucket: refreshes and
// revocations over many families of one client are bounded by it, another
// client is unaffected, and memory stays bounded by MaxEntries however many
// families are tried.
func TestTokenThrottlePerClient(t *testing.T) {
	t.Parallel()
	clk := newClock()
	f := newFixture(t, backends(t)[0].open(t, clk.Now), clk, func(c *Config) {
		c.TokenThrottle = TokenThrottleConfig{ClientBurst: 5, ClientEvery: time.Hour, FamilyBurst: 100, MaxEntries: 4}
	})
	ctx := t.Context()
	u := f.addUser(t, "alice", "alice-password", nil)
	for _, id := range []string{"spa", "other"} {
		if err := f.store.CreateClient(ctx, keyward.Client{ID: id, Public: true, GrantTypes: []string{GrantRefreshToken}}); err != nil {
			t.Fatal(err)
		}
	}
	family := func(client string) string {
		t.Helper()
		tok, err := f.issuer.newRefreshFamily(ctx, clk.Now(), keyward.RefreshToken{UserID: u.ID, ClientID: client, Audience: []string{"api"}})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for n := range 5 {
		req := RefreshRequest{Token: family("spa"), ClientID: "spa"}
		if n%2 == 1 {
			if err := f.issuer.Revoke(ctx, RevokeRequest{Token: req.Token, ClientID: "spa"}); err != nil {
				t.Fatalf("revocation %d: %v", n+1, err)
			}
			continue
		}
		if _, err := f.issuer.Refresh(ctx, req); err != nil {
			t.Fatalf("refresh %d: %v", n+1, err)
		}
	}
	if _, err := f.issuer.Refresh(ctx, RefreshRequest{Token: family("spa"), ClientID: "spa"}); oauthCode(err) != CodeSlowDown {
		t.Fatalf("sixth request of the client: %v, want slow_down", err)
	}
	if err := f.issuer.Revoke(ctx, RevokeRequest{Token: family("spa"), ClientID: "spa"}); oauthCode(err) != CodeSlowDown {
		t.Fatalf("seventh request of the client, a revocation: %v, want slow_down", err)
	}
	if _, err := f.issuer.Refresh(ctx, RefreshRequest{Token: family("other"), ClientID: "other"}); err != nil {
		t.Fatalf("another client: %v", err)
	}
	for range 50 {
		_, _ = f.issuer.Refresh(ctx, RefreshRequest{Token: family("other"), ClientID: "other"})
	}
	for name, th := range map[string]*throttle{"client": f.issuer.tokens.byClient, "family": f.issuer.tokens.byFamily, "user": f.issuer.tokens.byUser} {
		if n := th.cache.Len(); n > 4 {
			t.Errorf("%d %s buckets kept, limit 4", n, name)
		}
	}
}
