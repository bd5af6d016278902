package issuer

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"testing"
	"time"

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
