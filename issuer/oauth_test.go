package issuer

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/jose"
)

const testVerifier = "issuer-test-verifier-0123456789-abcdefghijklmnopqrstuvwxyz"

func s256(v string) string {
	s := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(s[:])
}

// codeFixture is an issuer with a user and a public client of the code flow.
func codeFixture(t *testing.T, b backend, mutate func(*Config)) (*fixture, keyward.User, keyward.Client) {
	t.Helper()
	clk := newClock()
	f := newFixture(t, b.open(t, clk.Now), clk, mutate)
	u, err := NewUser(t.Context(), f.store, "alice", "correct horse battery staple", nil,
		map[string]any{"email": "alice@example.com"}, testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := keyward.Client{ID: "spa", Public: true, RedirectURIs: []string{"https://app.example/cb"},
		GrantTypes: []string{GrantAuthorizationCode, GrantRefreshToken}}
	if err := f.store.CreateClient(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	return f, u, c
}

func (f *fixture) code(t *testing.T, c keyward.Client, s keyward.Session, scope string) string {
	t.Helper()
	req := AuthorizeRequest{Client: c, RedirectURI: c.RedirectURIs[0], Scope: scope, Nonce: "n",
		CodeChallenge: s256(testVerifier), CodeChallengeMethod: "S256"}
	granted, err := f.issuer.CheckAuthorize(req)
	if err != nil {
		t.Fatal(err)
	}
	code, err := f.issuer.IssueCode(t.Context(), req, granted, s)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var oe *Error
	if !errors.As(err, &oe) || oe.Code != code {
		t.Fatalf("error %v, want %s", err, code)
	}
}

func TestCodeFlow(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			f, u, c := codeFixture(t, b, nil)
			ctx := t.Context()
			cookie, sess, err := f.issuer.StartSession(ctx, LoginRequest{Username: "alice", Password: "correct horse battery staple", RemoteAddr: "192.0.2.1:5"})
			if err != nil {
				t.Fatal(err)
			}
			if got, err := f.issuer.Session(ctx, cookie); err != nil || got.UserID != u.ID {
				t.Fatalf("Session: %+v %v", got, err)
			}
			if _, err := f.issuer.Session(ctx, cookie+"x"); !errors.Is(err, ErrNoSession) {
				t.Fatalf("unknown cookie: %v", err)
			}

			// Expiry: a code older than CodeTTL is refused.
			code := f.code(t, c, sess, "openid email")
			f.clock.Add(CodeTTL + time.Second)
			_, err = f.issuer.ExchangeCode(ctx, CodeRequest{Code: code, RedirectURI: c.RedirectURIs[0], CodeVerifier: testVerifier, ClientID: "spa"})
			wantCode(t, err, CodeInvalidGrant)

			code = f.code(t, c, sess, "openid email")
			resp, err := f.issuer.ExchangeCode(ctx, CodeRequest{Code: code, RedirectURI: c.RedirectURIs[0], CodeVerifier: testVerifier, ClientID: "spa"})
			if err != nil {
				t.Fatal(err)
			}
			set, algs := f.keys.KeySet()
			id, err := jose.VerifyJWT(resp.IDToken, set, algs, &jose.Policy{Issuers: []string{"https://issuer.test"},
				Audiences: []string{"spa"}, Types: []string{IDTokenType}, Now: f.clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			if id.Claims.Subject != u.ID || id.Claims.String("nonce") != "n" || id.Claims.String("email") != "alice@example.com" {
				t.Errorf("ID token claims %+v", id.Claims)
			}
			info, err := f.issuer.UserInfo(ctx, resp.AccessToken)
			if err != nil || info["sub"] != u.ID || info["email"] != "alice@example.com" {
				t.Errorf("UserInfo %v %v", info, err)
			}

			// Reuse revokes the refresh token of the first exchange.
			_, err = f.issuer.ExchangeCode(ctx, CodeRequest{Code: code, RedirectURI: c.RedirectURIs[0], CodeVerifier: testVerifier, ClientID: "spa"})
			wantCode(t, err, CodeInvalidGrant)
			_, err = f.issuer.Refresh(ctx, RefreshRequest{Token: resp.RefreshToken, ClientID: "spa"})
			wantCode(t, err, CodeInvalidGrant)
			_, err = f.issuer.UserInfo(ctx, resp.AccessToken)
			wantCode(t, err, CodeInvalidToken)

			// Logout revokes the session and the refresh tokens issued in it.
			code = f.code(t, c, sess, "openid")
			resp, err = f.issuer.ExchangeCode(ctx, CodeRequest{Code: code, RedirectURI: c.RedirectURIs[0], CodeVerifier: testVerifier, ClientID: "spa"})
			if err != nil {
				t.Fatal(err)
			}
			if err := f.issuer.EndSession(ctx, cookie); err != nil {
				t.Fatal(err)
			}
			if _, err := f.issuer.Session(ctx, cookie); !errors.Is(err, ErrNoSession) {
				t.Fatalf("session after logout: %v", err)
			}
			_, err = f.issuer.Refresh(ctx, RefreshRequest{Token: resp.RefreshToken, ClientID: "spa"})
			wantCode(t, err, CodeInvalidGrant)
		})
	}
}

// TestNeedsLogin checks max_age against the session read back from each
// store, at the issuer's clock, and that the ID token's auth_time is the
// time of the login that opened the session.
func TestNeedsLogin(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			f, _, c := codeFixture(t, b, nil)
			ctx := t.Context()
			loginAt := f.clock.Now()
			cookie, _, err := f.issuer.StartSession(ctx, LoginRequest{Username: "alice", Password: "correct horse battery staple", RemoteAddr: "192.0.2.1:5"})
			if err != nil {
				t.Fatal(err)
			}
			f.clock.Add(2 * time.Second)
			sess, err := f.issuer.Session(ctx, cookie)
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name   string
				maxAge time.Duration
				want   bool
			}{
				{"max_age=0 always", 0, true},
				{"negative as zero", -time.Second, true},
				{"older than max_age", time.Second, true},
				{"exactly max_age", 2 * time.Second, false},
				{"younger than max_age", time.Hour, false},
			} {
				if got := f.issuer.NeedsLogin(sess, tc.maxAge); got != tc.want {
					t.Errorf("%s: NeedsLogin(session 2s old, %v) = %v, want %v", tc.name, tc.maxAge, got, tc.want)
				}
			}
			resp, err := f.issuer.ExchangeCode(ctx, CodeRequest{Code: f.code(t, c, sess, "openid"), RedirectURI: c.RedirectURIs[0],
				CodeVerifier: testVerifier, ClientID: "spa"})
			if err != nil {
				t.Fatal(err)
			}
			set, algs := f.keys.KeySet()
			id, err := jose.VerifyJWT(resp.IDToken, set, algs, &jose.Policy{Issuers: []string{"https://issuer.test"},
				Audiences: []string{"spa"}, Types: []string{IDTokenType}, Now: f.clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			if got, ok := id.Claims.Get("auth_time"); !ok || got != float64(loginAt.Unix()) {
				t.Errorf("auth_time %v (present %v), want %d", got, ok, loginAt.Unix())
			}
		})
	}
}

func TestCheckAuthorize(t *testing.T) {
	t.Parallel()
	pub := keyward.Client{ID: "spa", Public: true, GrantTypes: []string{GrantAuthorizationCode}, Scopes: []string{"orders"}}
	conf := keyward.Client{ID: "web", GrantTypes: []string{GrantAuthorizationCode}}
	noGrant := keyward.Client{ID: "svc", GrantTypes: []string{GrantClientCredentials}}
	ch := s256(testVerifier)
	for _, tc := range []struct {
		name string
		req  AuthorizeRequest
		code string
	}{
		{"public with PKCE", AuthorizeRequest{Client: pub, Scope: "openid orders", CodeChallenge: ch, CodeChallengeMethod: "S256"}, ""},
		{"confidential without PKCE", AuthorizeRequest{Client: conf, Scope: "openid"}, ""},
		{"public without PKCE", AuthorizeRequest{Client: pub}, CodeInvalidRequest},
		{"plain", AuthorizeRequest{Client: pub, CodeChallenge: ch, CodeChallengeMethod: "plain"}, CodeInvalidRequest},
		{"method without challenge", AuthorizeRequest{Client: conf, CodeChallengeMethod: "S256"}, CodeInvalidRequest},
		{"short challenge", AuthorizeRequest{Client: pub, CodeChallenge: "abc", CodeChallengeMethod: "S256"}, CodeInvalidRequest},
		{"unknown scope", AuthorizeRequest{Client: conf, Scope: "openid admin"}, CodeInvalidScope},
		{"no grant", AuthorizeRequest{Client: noGrant}, CodeUnauthorizedClient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := (&Issuer{}).CheckAuthorize(tc.req)
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantCode(t, err, tc.code)
		})
	}
}

func TestClientAssertionFromURL(t *testing.T) {
	t.Parallel()
	b := backends(t)[0]
	priv, err := jose.GenerateKey(jose.EdDSA, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := jose.NewJWK(priv, jose.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jwk.Public()
	if err != nil {
		t.Fatal(err)
	}
	fetched := 0
	f, _, _ := codeFixture(t, b, func(c *Config) {
		c.ClientKeys = func(_ context.Context, url, _ string) (jose.KeySet, error) {
			fetched++
			if url != "https://svc.example/jwks.json" {
				return nil, errors.New("unexpected URL")
			}
			return &jose.JWKS{Keys: []*jose.JWK{pub}}, nil
		}
	})
	if err := f.store.CreateClient(t.Context(), keyward.Client{ID: "svc", JWKSURL: "https://svc.example/jwks.json"}); err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(priv, jose.EdDSA, jwk.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	now := f.clock.Now()
	assertion := func(sub string) string {
		tok, err := signer.SignJWT("JWT", &jose.Claims{Issuer: "svc", Subject: sub, Audience: jose.Audience{"https://issuer.test"},
			Expiry: jose.NewNumericDate(now.Add(time.Minute)), ID: "j-" + sub})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	if c, err := f.issuer.AuthenticateClientAssertion(t.Context(), "", assertion("svc"), []string{"https://issuer.test"}); err != nil || c.ID != "svc" {
		t.Fatalf("assertion from a JWKS URL: %v", err)
	}
	_, err = f.issuer.AuthenticateClientAssertion(t.Context(), "", assertion("other"), []string{"https://issuer.test"})
	wantCode(t, err, CodeInvalidClient)
	_, err = f.issuer.AuthenticateClientAssertion(t.Context(), "spa", assertion("svc"), []string{"https://issuer.test"})
	wantCode(t, err, CodeInvalidClient)
	if fetched == 0 {
		t.Error("the JWKS URL was never fetched")
	}
}

// TestSignIn checks what a login does to the session the browser already
// holds: the same user's live session goes on under a new cookie value with
// a later AuthTime, another user's is ended with its refresh tokens, and a
// cookie naming no live session is ignored. A failed login changes nothing.
func TestSignIn(t *testing.T) {
	t.Parallel()
	const password = "correct horse battery staple"
	const (
		renewed = "renewed" // the first session goes on
		ended   = "ended"   // the first session ends, a new one starts
		fresh   = "fresh"   // a new session starts; the first is left alone
	)
	tests := []struct {
		name  string
		user  string
		setup func(t *testing.T, f *fixture, cookie string) string // returns the cookie value the browser presents
		want  string
	}{
		{name: "same user", user: "alice", want: renewed},
		{name: "another user", user: "bob", want: ended},
		{name: "no cookie", user: "alice", setup: func(*testing.T, *fixture, string) string { return "" }, want: fresh},
		{name: "unknown cookie", user: "alice", setup: func(*testing.T, *fixture, string) string { return "not-a-session" }, want: fresh},
		{name: "ended session", user: "alice", setup: func(t *testing.T, f *fixture, c string) string {
			if err := f.issuer.EndSession(t.Context(), c); err != nil {
				t.Fatal(err)
			}
			return c
		}, want: fresh},
		{name: "expired session", user: "alice", setup: func(_ *testing.T, f *fixture, c string) string {
			f.clock.Add(SessionTTL)
			return c
		}, want: fresh},
		{name: "another user, expired session", user: "bob", setup: func(_ *testing.T, f *fixture, c string) string {
			f.clock.Add(SessionTTL)
			return c
		}, want: fresh},
	}
	for bi, b := range backends(t) {
		for _, tt := range tests {
			t.Run(b.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				f, alice, c := codeFixture(t, backends(t)[bi], nil) // a store of its own
				ctx := t.Context()
				bob, err := NewUser(ctx, f.store, "bob", password, nil, nil, testPassword, nil)
				if err != nil {
					t.Fatal(err)
				}
				exchange := func(s keyward.Session) *TokenResponse {
					t.Helper()
					resp, err := f.issuer.ExchangeCode(ctx, CodeRequest{Code: f.code(t, c, s, "openid"), RedirectURI: c.RedirectURIs[0],
						CodeVerifier: testVerifier, ClientID: "spa"})
					if err != nil {
						t.Fatal(err)
					}
					return resp
				}
				refreshes := func(rt string) bool {
					t.Helper()
					_, err := f.issuer.Refresh(ctx, RefreshRequest{Token: rt, ClientID: "spa"})
					return err == nil
				}

				cookie1, first, err := f.issuer.StartSession(ctx, LoginRequest{Username: "alice", Password: password})
				if err != nil {
					t.Fatal(err)
				}
				sum := sha256.Sum256([]byte(cookie1))
				if first.ID == "" || string(first.CookieHash) != string(sum[:]) || first.UserID != alice.ID || !first.AuthTime.Equal(f.clock.Now()) {
					t.Fatalf("first session %+v", first)
				}
				tok1 := exchange(first)
				presented := cookie1
				if tt.setup != nil {
					presented = tt.setup(t, f, cookie1)
				}
				f.clock.Add(time.Minute)

				// A failed login leaves the browser's session as it was.
				if _, _, err := f.issuer.SignIn(ctx, LoginRequest{Username: tt.user, Password: "wrong"}, presented); err == nil {
					t.Fatal("SignIn with a wrong password succeeded")
				}
				before, err := f.store.GetSession(ctx, first.ID)
				if err != nil {
					t.Fatal(err)
				}

				cookie2, second, err := f.issuer.SignIn(ctx, LoginRequest{Username: tt.user, Password: password}, presented)
				if err != nil {
					t.Fatal(err)
				}
				got, err := f.issuer.Session(ctx, cookie2)
				if err != nil || got.ID != second.ID || !got.AuthTime.Equal(f.clock.Now()) || cookie2 == cookie1 {
					t.Fatalf("the new cookie names %+v (%v), want %+v logged in now", got, err, second)
				}
				if _, err := f.issuer.Session(ctx, cookie1); tt.want != fresh && !errors.Is(err, ErrNoSession) {
					t.Errorf("the first cookie value still names a live session: %v", err)
				}
				after, err := f.store.GetSession(ctx, first.ID)
				if err != nil {
					t.Fatal(err)
				}
				switch tt.want {
				case renewed:
					if second.ID != first.ID || !after.CreatedAt.Equal(first.CreatedAt) || !after.AuthTime.Equal(f.clock.Now()) ||
						!after.ExpiresAt.Equal(f.clock.Now().Add(SessionTTL)) || !after.Active(f.clock.Now()) {
						t.Fatalf("session after the same user's login %+v, want %s renewed now", after, first.ID)
					}
					if !strings.Contains(f.log.String(), `"msg":"session_renewed"`) {
						t.Error("no session_renewed audit line")
					}
					// NeedsLogin and the ID token count from the new login.
					if f.issuer.NeedsLogin(got, 30*time.Second) {
						t.Error("NeedsLogin counts from the first login")
					}
					tok2 := exchange(second)
					// The first cookie value ends nothing; the new one ends the
					// session and the refresh tokens of both flows.
					if err := f.issuer.EndSession(ctx, cookie1); err != nil {
						t.Fatal(err)
					}
					if _, err := f.issuer.Session(ctx, cookie2); err != nil {
						t.Fatalf("logout with the first cookie value ended the session: %v", err)
					}
					if err := f.issuer.EndSession(ctx, cookie2); err != nil {
						t.Fatal(err)
					}
					if refreshes(tok1.RefreshToken) || refreshes(tok2.RefreshToken) {
						t.Fatal("a refresh token of the session survived its end")
					}
				case ended:
					if second.ID == first.ID || second.UserID != bob.ID || after.RevokedAt.IsZero() || !after.RevokedAt.Equal(f.clock.Now()) {
						t.Fatalf("alice's session %+v after bob's login, want ended now; bob's %+v", after, second)
					}
					if refreshes(tok1.RefreshToken) {
						t.Fatal("alice's refresh token survived bob's login")
					}
					if !strings.Contains(f.log.String(), `"reason":"other_user_signed_in"`) {
						t.Error("no session_ended audit line for the other user's login")
					}
				case fresh:
					if second.ID == first.ID {
						t.Fatalf("a cookie naming no live session was renewed: %+v", second)
					}
					unchanged := after.CookieHash != nil && string(after.CookieHash) == string(before.CookieHash) &&
						after.AuthTime.Equal(before.AuthTime) && after.RevokedAt.Equal(before.RevokedAt)
					if !unchanged {
						t.Fatalf("the first session changed from %+v to %+v", before, after)
					}
				}
				for _, secret := range []string{cookie1, cookie2, password} {
					if strings.Contains(f.log.String(), secret) {
						t.Fatal("a secret is in the log")
					}
				}
			})
		}
	}
}

// TestClientAssertionType checks the typ header of a private_key_jwt
// assertion: absent, JWT or client-authentication+jwt (with or without
// "application/", in any case) is accepted; any other explicit type, an
// access token's at+jwt first, is refused, so that no other kind of JWT
// signed by the client's key passes for an assertion.
func TestClientAssertionType(t *testing.T) {
	t.Parallel()
	b := backends(t)[0]
	priv, err := jose.GenerateKey(jose.ES256, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := jose.NewJWK(priv, jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jwk.Public()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := json.Marshal(map[string]any{"keys": []*jose.JWK{pub}})
	if err != nil {
		t.Fatal(err)
	}
	f, _, _ := codeFixture(t, b, nil)
	if err := f.store.CreateClient(t.Context(), keyward.Client{ID: "svc", JWKS: doc}); err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(priv, jose.ES256, jwk.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		typ string
		ok  bool
	}{
		{"", true},
		{"JWT", true},
		{"jwt", true},
		{"application/jwt", true},
		{"client-authentication+jwt", true},
		{"application/Client-Authentication+JWT", true},
		{"at+jwt", false},
		{"application/at+jwt", false},
		{"dpop+jwt", false},
		{"logout+jwt", false},
		{"JOSE", false},
		{"secevent+jwt", false},
	}
	for n, tt := range tests {
		claims := &jose.Claims{Issuer: "svc", Subject: "svc", Audience: jose.Audience{"https://issuer.test"},
			Expiry: jose.NewNumericDate(f.clock.Now().Add(time.Minute)), ID: fmt.Sprintf("j-%d", n)}
		payload, err := claims.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		tok, err := signer.Sign(tt.typ, payload)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.issuer.AuthenticateClientAssertion(t.Context(), "svc", tok, []string{"https://issuer.test"})
		var oe *Error
		switch {
		case tt.ok && err != nil:
			t.Errorf("typ %q: %v, want accepted", tt.typ, err)
		case !tt.ok && (!errors.As(err, &oe) || oe.Code != CodeInvalidClient):
			t.Errorf("typ %q: %v, want invalid_client", tt.typ, err)
		}
	}
}
