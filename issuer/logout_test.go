package issuer

import (
	"errors"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/storage/memory"
)

// hintFixture returns a fixture and a function signing claims as a JWT of
// type typ with the fixture's active key.
func hintFixture(t *testing.T) (*fixture, func(typ string, c *jose.Claims) string) {
	t.Helper()
	clk := newClock()
	f := newFixture(t, memory.New(memory.Config{Now: clk.Now}), clk, nil)
	signer, err := f.keys.Signer()
	if err != nil {
		t.Fatal(err)
	}
	return f, func(typ string, c *jose.Claims) string {
		t.Helper()
		tok, err := signer.SignJWT(typ, c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
}

// idClaims returns the claims of an ID token the fixture's issuer would
// sign for alice at client rp in session sess, issued at now.
func idClaims(now time.Time) *jose.Claims {
	return &jose.Claims{
		Issuer: "https://issuer.test", Subject: "alice", Audience: jose.Audience{"rp"},
		Expiry: jose.NewNumericDate(now.Add(15 * time.Minute)), IssuedAt: jose.NewNumericDate(now),
		Extra: map[string]any{"azp": "rp", "sid": "sess"},
	}
}

// TestVerifyIDTokenHint checks which tokens pass as an id_token_hint: ID
// tokens of this issuer, expired ones included; never an access token, a
// token of another issuer or signed with another key.
func TestVerifyIDTokenHint(t *testing.T) {
	t.Parallel()
	f, sign := hintFixture(t)
	now := f.clock.Now()
	foreign, err := jose.NewSigner(testKey(t, "p256.pem"), jose.ES256, "")
	if err != nil {
		t.Fatal(err)
	}
	ours, _ := f.keys.Signer()
	impostor, err := jose.NewSigner(testKey(t, "p256.pem"), jose.ES256, ours.KeyID())
	if err != nil {
		t.Fatal(err)
	}
	with := func(edit func(c *jose.Claims)) *jose.Claims {
		c := idClaims(now)
		edit(c)
		return c
	}
	signWith := func(s *jose.Signer, c *jose.Claims) string {
		tok, err := s.SignJWT(IDTokenType, c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tests := []struct {
		name  string
		token string
		want  LogoutHint // zero: refused
	}{
		{name: "ID token", token: sign(IDTokenType, idClaims(now)),
			want: LogoutHint{Subject: "alice", SessionID: "sess", Audience: []string{"rp"}, AuthorizedParty: "rp"}},
		{name: "expired a day ago", token: sign(IDTokenType, with(func(c *jose.Claims) {
			c.IssuedAt, c.Expiry = jose.NewNumericDate(now.Add(-25*time.Hour)), jose.NewNumericDate(now.Add(-24*time.Hour))
		})), want: LogoutHint{Subject: "alice", SessionID: "sess", Audience: []string{"rp"}, AuthorizedParty: "rp"}},
		{name: "no sid", token: sign(IDTokenType, with(func(c *jose.Claims) { delete(c.Extra, "sid") })),
			want: LogoutHint{Subject: "alice", Audience: []string{"rp"}, AuthorizedParty: "rp"}},
		{name: "access token", token: sign(AccessTokenType, idClaims(now))},
		{name: "another issuer", token: sign(IDTokenType, with(func(c *jose.Claims) { c.Issuer = "https://evil.test" }))},
		{name: "no sub", token: sign(IDTokenType, with(func(c *jose.Claims) { c.Subject = "" }))},
		{name: "no aud", token: sign(IDTokenType, with(func(c *jose.Claims) { c.Audience = nil }))},
		{name: "no exp", token: sign(IDTokenType, with(func(c *jose.Claims) { c.Expiry = 0 }))},
		{name: "issued in the future", token: sign(IDTokenType, with(func(c *jose.Claims) {
			c.IssuedAt, c.Expiry = jose.NewNumericDate(now.Add(time.Hour)), jose.NewNumericDate(now.Add(2*time.Hour))
		}))},
		{name: "another key", token: signWith(foreign, idClaims(now))},
		{name: "another key under our kid", token: signWith(impostor, idClaims(now))},
		{name: "garbage", token: "not.a.token"},
		{name: "empty", token: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := f.issuer.VerifyIDTokenHint(tt.token)
			if tt.want.Subject == "" {
				if !errors.Is(err, ErrIDTokenHint) {
					t.Fatalf("VerifyIDTokenHint = %+v, %v; want ErrIDTokenHint", got, err)
				}
				return
			}
			if err != nil || got.Subject != tt.want.Subject || got.SessionID != tt.want.SessionID ||
				got.AuthorizedParty != tt.want.AuthorizedParty || len(got.Audience) != 1 || got.Audience[0] != tt.want.Audience[0] {
				t.Fatalf("VerifyIDTokenHint = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// TestLogoutHintMatches checks which sessions a hint names.
func TestLogoutHintMatches(t *testing.T) {
	t.Parallel()
	sess := keyward.Session{ID: "sess", UserID: "alice"}
	tests := []struct {
		name string
		hint LogoutHint
		want bool
	}{
		{"same session", LogoutHint{Subject: "alice", SessionID: "sess"}, true},
		{"same user, no sid", LogoutHint{Subject: "alice"}, true},
		{"same user, another session", LogoutHint{Subject: "alice", SessionID: "other"}, false},
		{"another user, same sid", LogoutHint{Subject: "bob", SessionID: "sess"}, false},
		{"empty", LogoutHint{}, false},
	}
	for _, tt := range tests {
		if got := tt.hint.Matches(sess); got != tt.want {
			t.Errorf("%s: Matches = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestLogoutClient checks the post_logout_redirect_uri of a logout
// request: registered and compared exactly, else refused.
func TestLogoutClient(t *testing.T) {
	t.Parallel()
	f, _ := hintFixture(t)
	ctx := t.Context()
	if err := f.store.CreateClient(ctx, keyward.Client{ID: "rp", RedirectURIs: []string{"https://rp.example/cb"},
		PostLogoutRedirectURIs: []string{"https://rp.example/bye?a=1", "javascript:alert(1)"}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, client, uri string
		want              error
	}{
		{"registered", "rp", "https://rp.example/bye?a=1", nil},
		{"none", "rp", "", nil},
		{"unregistered", "rp", "https://evil.example/", ErrPostLogoutRedirectURI},
		{"prefix", "rp", "https://rp.example/bye", ErrPostLogoutRedirectURI},
		{"case changed", "rp", "https://RP.example/bye?a=1", ErrPostLogoutRedirectURI},
		{"extra query", "rp", "https://rp.example/bye?a=1&b=2", ErrPostLogoutRedirectURI},
		{"registered before the rules", "rp", "javascript:alert(1)", ErrPostLogoutRedirectURI},
		{"unknown client", "nobody", "https://rp.example/bye?a=1", ErrUnknownClient},
		{"no client", "", "https://rp.example/bye?a=1", ErrUnknownClient},
	}
	for _, tt := range tests {
		c, err := f.issuer.LogoutClient(ctx, tt.client, tt.uri)
		if !errors.Is(err, tt.want) || err == nil && c.ID != tt.client {
			t.Errorf("%s: LogoutClient = %q, %v; want %v", tt.name, c.ID, err, tt.want)
		}
	}
}

// FuzzVerifyIDTokenHint feeds arbitrary strings to VerifyIDTokenHint: it
// never panics, and whatever it accepts is a token its issuer signed.
func FuzzVerifyIDTokenHint(f *testing.F) {
	clk := newClock()
	fx := newFixture(f, memory.New(memory.Config{Now: clk.Now}), clk, nil)
	signer, err := fx.keys.Signer()
	if err != nil {
		f.Fatal(err)
	}
	good, err := signer.SignJWT(IDTokenType, idClaims(clk.Now()))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{good, good[:len(good)-2], "", ".", "..", "a.b.c", "eyJhbGciOiJub25lIn0.e30.",
		"eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovL2lzc3Vlci50ZXN0In0.AAAA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := fx.issuer.VerifyIDTokenHint(s)
		if err == nil && (h.Subject != "alice" || h.SessionID != "sess" || h.ClientID() != "rp") {
			t.Fatalf("accepted %q as %+v", s, h)
		}
	})
}
