package issuer

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/jose"
)

func oauthCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// verify checks an access token against the issuer's published keys.
func (f *fixture) verify(tb testing.TB, tok string, aud string) *jose.Claims {
	tb.Helper()
	set, algs := f.keys.KeySet()
	got, err := jose.VerifyJWT(tok, set, algs, &jose.Policy{
		Issuers: []string{"https://issuer.test"}, Audiences: []string{aud},
		Types: []string{"at+jwt"}, Required: []string{"jti", "iat", "sub", "client_id"}, Now: f.clock.Now,
	})
	if err != nil {
		tb.Fatalf("access token does not verify: %v", err)
	}
	return got.Claims
}

func (f *fixture) addUser(tb testing.TB, name, password string, mutate func(*keyward.User)) keyward.User {
	tb.Helper()
	u, err := NewUser(tb.Context(), f.store, name, password, []string{"reader"},
		map[string]any{"email": name + "@example.com", "sub": "spoofed", "iss": "spoofed"}, testPassword, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if mutate != nil {
		if err := f.store.UpdateUser(tb.Context(), u.ID, func(u *keyward.User) error { mutate(u); return nil }); err != nil {
			tb.Fatal(err)
		}
	}
	return u
}

func TestLogin(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			f := newFixture(t, b.open(t, clk.Now), clk, nil)
			ctx := t.Context()
			alice := f.addUser(t, "alice", "s3cret-pw", nil)
			f.addUser(t, "bob", "bob-pw", func(u *keyward.User) { u.Disabled = true })

			resp, err := f.issuer.Login(ctx, LoginRequest{Username: "alice", Password: "s3cret-pw", RemoteAddr: "192.0.2.1:5555"})
			if err != nil {
				t.Fatal(err)
			}
			if resp.TokenType != "Bearer" || resp.ExpiresIn != 900 || resp.RefreshToken == "" {
				t.Fatalf("response %+v", resp)
			}
			c := f.verify(t, resp.AccessToken, "api")
			if c.Subject != alice.ID || c.String("email") != "alice@example.com" || c.Issuer != "https://issuer.test" ||
				c.String("client_id") != FirstPartyClientID || !slices.Equal(c.Strings("roles"), []string{"reader"}) {
				t.Fatalf("claims %+v", c)
			}
			if c.Expiry.Time().Sub(c.IssuedAt.Time()) != 15*time.Minute || len(c.ID) != 22 {
				t.Fatalf("exp-iat %v, jti %q", c.Expiry.Time().Sub(c.IssuedAt.Time()), c.ID)
			}

			tests := []struct {
				name, user, pw, code string
			}{
				{"wrong password", "alice", "nope", CodeInvalidGrant},
				{"unknown user", "mallory", "nope", CodeInvalidGrant},
				{"disabled", "bob", "bob-pw", CodeInvalidGrant},
				{"control character", "alice\n", "s3cret-pw", CodeInvalidGrant}, // "ALICE" is alice: TestLoginNormalizesUsername
				{"no password", "alice", "", CodeInvalidRequest},
				{"no username", "", "pw", CodeInvalidRequest},
				{"huge password", "alice", strings.Repeat("x", MaxPasswordLen+1), CodeInvalidRequest},
			}
			var descriptions []string
			for _, tt := range tests {
				_, err := f.issuer.Login(ctx, LoginRequest{Username: tt.user, Password: tt.pw, RemoteAddr: "192.0.2.2:1"})
				if got := oauthCode(err); got != tt.code {
					t.Errorf("%s: error %v, want %s", tt.name, err, tt.code)
				}
				var e *Error
				if errors.As(err, &e) && e.Code == CodeInvalidGrant {
					descriptions = append(descriptions, e.Error())
				}
			}
			for _, d := range descriptions {
				if d != descriptions[0] {
					t.Fatalf("failed logins are told apart: %q", descriptions)
				}
			}
			out := f.log.String()
			for _, want := range []string{`"reason":"unknown_user"`, `"reason":"bad_password"`, `"reason":"disabled"`, `"msg":"login_succeeded"`, `"msg":"token_issued"`} {
				if !strings.Contains(out, want) {
					t.Errorf("audit log lacks %s", want)
				}
			}
			for _, secret := range []string{"s3cret-pw", "bob-pw", resp.RefreshToken, alice.PasswordHash} {
				if strings.Contains(out, secret) {
					t.Fatalf("a secret is in the log:\n%s", out)
				}
			}
		})
	}
}

// TestLoginTiming checks that an unknown user costs an argon2id computation
// with the same parameters as a wrong password.
func TestLoginTiming(t *testing.T) {
	clk := newClock()
	f := newFixture(t, backends(t)[0].open(t, clk.Now), clk, func(c *Config) {
		c.Password = PasswordParams{}
		c.Throttle.InsecureDisableThrottle = true
	})
	if _, err := NewUser(t.Context(), f.store, "alice", "pw", nil, nil, PasswordParams{}, nil); err != nil {
		t.Fatal(err)
	}
	// The failure this guards against is an unknown user answered without
	// an argon2id computation: orders of magnitude faster, not a few tens
	// of percent. Known and unknown logins take turns, so that a change in
	// the machine's load falls on both, and the bounds are wide enough for
	// a shared machine.
	login := func(user string) time.Duration {
		start := time.Now()
		if _, err := f.issuer.Login(t.Context(), LoginRequest{Username: user, Password: "wrong"}); oauthCode(err) != CodeInvalidGrant {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	var known, unknown []time.Duration
	for range 7 {
		known = append(known, login("alice"))
		unknown = append(unknown, login("nobody"))
	}
	median := func(d []time.Duration) time.Duration {
		slices.Sort(d)
		return d[len(d)/2]
	}
	if ratio := float64(median(unknown)) / float64(median(known)); ratio < 0.3 || ratio > 3 {
		t.Fatalf("unknown user %v, wrong password %v: ratio %.2f", median(unknown), median(known), ratio)
	}
}

func TestLoginThrottle(t *testing.T) {
	t.Parallel()
	clk := newClock()
	f := newFixture(t, backends(t)[0].open(t, clk.Now), clk, func(c *Config) {
		c.Throttle = ThrottleConfig{AccountBurst: 3, AccountEvery: time.Minute, AddressBurst: 5, AddressEvery: time.Minute, MaxEntries: 4}
	})
	f.addUser(t, "alice", "pw", nil)
	login := func(user, addr string) error {
		_, err := f.issuer.Login(t.Context(), LoginRequest{Username: user, Password: "bad", RemoteAddr: addr})
		return err
	}
	for i := range 3 {
		if err := login("alice", "10.0.0.1:1"); oauthCode(err) != CodeInvalidGrant {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	err := login("alice", "10.0.0.2:1")
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeSlowDown || e.RetryAfter <= 0 || e.RetryAfter > time.Minute {
		t.Fatalf("fourth attempt on the account: %v", err)
	}
	// Per address: other accounts from one address.
	for i := range 2 {
		if err := login("user"+string(rune('a'+i)), "10.0.0.1:2"); oauthCode(err) != CodeInvalidGrant {
			t.Fatalf("attempt %d from the address: %v", i, err)
		}
	}
	if err := login("carol", "10.0.0.1:3"); oauthCode(err) != CodeSlowDown {
		t.Fatalf("sixth attempt from the address: %v", err)
	}
	// The buckets refill.
	clk.Add(time.Minute)
	if err := login("alice", "10.0.0.3:1"); oauthCode(err) != CodeInvalidGrant {
		t.Fatalf("after a minute: %v", err)
	}
}

func TestRefreshRotation(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			f := newFixture(t, b.open(t, clk.Now), clk, func(c *Config) { c.RefreshTTL = time.Hour })
			ctx := t.Context()
			alice := f.addUser(t, "alice", "pw", nil)
			first, err := f.issuer.Login(ctx, LoginRequest{Username: "alice", Password: "pw"})
			if err != nil {
				t.Fatal(err)
			}
			second, err := f.issuer.Refresh(ctx, RefreshRequest{Token: first.RefreshToken})
			if err != nil {
				t.Fatal(err)
			}
			if second.RefreshToken == first.RefreshToken || second.RefreshToken == "" {
				t.Fatal("refresh did not rotate the token")
			}
			if c := f.verify(t, second.AccessToken, "api"); c.Subject != alice.ID || c.String("email") != "alice@example.com" {
				t.Fatalf("refreshed claims %+v", c)
			}
			// Reuse of the first token fails and revokes the family,
			// the token it was exchanged for included.
			if _, err := f.issuer.Refresh(ctx, RefreshRequest{Token: first.RefreshToken}); oauthCode(err) != CodeInvalidGrant {
				t.Fatalf("reuse: %v, want invalid_grant", err)
			}
			if _, err := f.issuer.Refresh(ctx, RefreshRequest{Token: second.RefreshToken}); oauthCode(err) != CodeInvalidGrant {
				t.Fatalf("token issued from a reused one: %v, want invalid_grant", err)
			}
			if !strings.Contains(f.log.String(), `"msg":"refresh_reuse_detected"`) {
				t.Fatal("no refresh_reuse_detected audit line")
			}

			// The family's absolute lifetime.
			third, err := f.issuer.Login(ctx, LoginRequest{Username: "alice", Password: "pw"})
			if err != nil {
				t.Fatal(err)
			}
			clk.Add(59 * time.Minute)
			fourth, err := f.issuer.Refresh(ctx, RefreshRequest{Token: third.RefreshToken})
			if err != nil {
				t.Fatal(err)
			}
			clk.Add(time.Minute)
			if _, err := f.issuer.Refresh(ctx, RefreshRequest{Token: fourth.RefreshToken}); oauthCode(err) != CodeInvalidGrant {
				t.Fatalf("refresh past the family's lifetime: %v", err)
			}

			// A disabled user cannot refresh.
			fifth, err := f.issuer.Login(ctx, LoginRequest{Username: "alice", Password: "pw"})
			if err != nil {
				t.Fatal(err)
			}
			if err := f.store.UpdateUser(ctx, alice.ID, func(u *keyward.User) error { u.Disabled = true; return nil }); err != nil {
				t.Fatal(err)
			}
			if _, err := f.issuer.Refresh(ctx, RefreshRequest{Token: fifth.RefreshToken}); oauthCode(err) != CodeInvalidGrant {
				t.Fatalf("refresh of a disabled user: %v", err)
			}

			// Unknown, malformed and foreign-client tokens.
			if _, err := f.issuer.Refresh(ctx, RefreshRequest{Token: "unknown"}); oauthCode(err) != CodeInvalidGrant {
				t.Fatalf("unknown token: %v", err)
			}
			if _, err := f.issuer.Refresh(ctx, RefreshRequest{}); oauthCode(err) != CodeInvalidRequest {
				t.Fatalf("no token: %v", err)
			}
		})
	}
}

// TestRefreshRace races several refreshes of one token: exactly one wins.
func TestRefreshRace(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			// 40 refreshes of one user at one instant: more than the
			// token throttle lets through, which is not what this tests.
			f := newFixture(t, b.open(t, clk.Now), clk, func(c *Config) { c.TokenThrottle.InsecureDisableThrottle = true })
			f.addUser(t, "alice", "pw", nil)
			for round := range 5 {
				resp, err := f.issuer.Login(t.Context(), LoginRequest{Username: "alice", Password: "pw", RemoteAddr: "10.1.1.1"})
				if err != nil {
					t.Fatal(err)
				}
				const n = 8
				var (
					wg    sync.WaitGroup
					start = make(chan struct{})
					errs  = make([]error, n)
				)
				for g := range n {
					wg.Go(func() {
						<-start
						_, errs[g] = f.issuer.Refresh(t.Context(), RefreshRequest{Token: resp.RefreshToken})
					})
				}
				close(start)
				wg.Wait()
				wins := 0
				for _, err := range errs {
					switch {
					case err == nil:
						wins++
					case oauthCode(err) != CodeInvalidGrant:
						t.Fatalf("round %d: %v", round, err)
					}
				}
				if wins != 1 {
					t.Fatalf("round %d: %d of %d concurrent refreshes succeeded, want 1", round, wins, n)
				}
			}
		})
	}
}

func TestClientCredentials(t *testing.T) {
	t.Parallel()
	clk := newClock()
	f := newFixture(t, backends(t)[0].open(t, clk.Now), clk, nil)
	ctx := t.Context()
	secret, hash, err := NewClientSecret(nil)
	if err != nil {
		t.Fatal(err)
	}
	clients := []keyward.Client{
		{ID: "svc", SecretHash: hash, GrantTypes: []string{GrantClientCredentials}, Scopes: []string{"read", "write"}, Audience: "orders"},
		{ID: "nocc", SecretHash: hash, GrantTypes: []string{GrantRefreshToken}},
		{ID: "pub", Public: true, GrantTypes: []string{GrantClientCredentials}},
	}
	for _, c := range clients {
		if err := f.store.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, id, secret, scope string
		authCode, code          string
		wantScope               string
	}{
		{name: "all scopes", id: "svc", secret: secret, wantScope: "read write"},
		{name: "narrowed", id: "svc", secret: secret, scope: " write ", wantScope: "write"},
		{name: "scope not allowed", id: "svc", secret: secret, scope: "admin", code: CodeInvalidScope},
		{name: "wrong secret", id: "svc", secret: secret + "x", authCode: CodeInvalidClient},
		{name: "unknown client", id: "ghost", secret: secret, authCode: CodeInvalidClient},
		{name: "public client", id: "pub", secret: secret, authCode: CodeInvalidClient},
		{name: "grant not allowed", id: "nocc", secret: secret, code: CodeUnauthorizedClient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := f.issuer.AuthenticateClient(ctx, tt.id, tt.secret)
			if tt.authCode != "" {
				if oauthCode(err) != tt.authCode {
					t.Fatalf("AuthenticateClient: %v, want %s", err, tt.authCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp, err := f.issuer.ClientCredentials(ctx, c, tt.scope)
			if tt.code != "" {
				if oauthCode(err) != tt.code {
					t.Fatalf("ClientCredentials: %v, want %s", err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			claims := f.verify(t, resp.AccessToken, "orders")
			if claims.Subject != "svc" || claims.String("scope") != tt.wantScope || resp.Scope != tt.wantScope || resp.RefreshToken != "" {
				t.Fatalf("claims %+v, response %+v", claims, resp)
			}
		})
	}
	if strings.Contains(f.log.String(), secret) {
		t.Fatal("the client secret is in the log")
	}
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	clk := newClock()
	f := newFixture(t, backends(t)[0].open(t, clk.Now), clk, nil)
	ctx := t.Context()
	f.addUser(t, "alice", "pw", nil)
	resp, err := f.issuer.Login(ctx, LoginRequest{Username: "alice", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	next, err := f.issuer.Refresh(ctx, RefreshRequest{Token: resp.RefreshToken})
	if err != nil {
		t.Fatal(err)
	}
	// Revoking the access token records its jti.
	if err := f.issuer.Revoke(ctx, RevokeRequest{Token: next.AccessToken, TokenTypeHint: "access_token"}); err != nil {
		t.Fatal(err)
	}
	jti := f.verify(t, next.AccessToken, "api").ID
	if ok, err := f.store.IsAccessTokenRevoked(ctx, jti); err != nil || !ok {
		t.Fatalf("jti revoked: %v, %v", ok, err)
	}
	// Revoking a refresh token revokes the family.
	if err := f.issuer.Revoke(ctx, RevokeRequest{Token: next.RefreshToken}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.issuer.Refresh(ctx, RefreshRequest{Token: next.RefreshToken}); oauthCode(err) != CodeInvalidGrant {
		t.Fatalf("refresh after revocation: %v", err)
	}
	// Unknown tokens are not an error; a bad hint is.
	for _, tok := range []string{"unknown", "a.b.c", strings.Repeat("x", 20000)} {
		if err := f.issuer.Revoke(ctx, RevokeRequest{Token: tok}); err != nil {
			t.Fatalf("Revoke(%.10q): %v", tok, err)
		}
	}
	if err := f.issuer.Revoke(ctx, RevokeRequest{Token: "x", TokenTypeHint: "id_token"}); oauthCode(err) != CodeUnsupportedTokenType {
		t.Fatalf("bad hint: %v", err)
	}
	// A confidential client's token cannot be revoked by someone else.
	_, hash, _ := NewClientSecret(nil)
	if err := f.store.CreateClient(ctx, keyward.Client{ID: "svc", SecretHash: hash, GrantTypes: []string{GrantClientCredentials}}); err != nil {
		t.Fatal(err)
	}
	c, _ := f.store.GetClient(ctx, "svc")
	cc, err := f.issuer.ClientCredentials(ctx, c, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.issuer.Revoke(ctx, RevokeRequest{Token: cc.AccessToken}); oauthCode(err) != CodeInvalidClient {
		t.Fatalf("unauthenticated revocation of a client's token: %v", err)
	}
	if err := f.issuer.Revoke(ctx, RevokeRequest{Token: cc.AccessToken, Client: &c}); err != nil {
		t.Fatal(err)
	}
}

func TestBootstrap(t *testing.T) {
	t.Parallel()
	clk := newClock()
	store := backends(t)[0].open(t, clk.Now)
	pw, created, err := Bootstrap(t.Context(), store, testPassword, nil)
	if err != nil || !created || len(pw) < 20 {
		t.Fatalf("Bootstrap = %d chars, %v, %v", len(pw), created, err)
	}
	u, err := store.GetUserByName(t.Context(), AdminUsername)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := VerifyPassword(u.PasswordHash, pw); !ok || !slices.Contains(u.Roles, "admin") {
		t.Fatal("admin password or role wrong")
	}
	if _, created, err := Bootstrap(t.Context(), store, testPassword, nil); created || err != nil {
		t.Fatalf("second Bootstrap created %v, %v", created, err)
	}
}
