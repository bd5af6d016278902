package issuer

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/jose"
)

func TestValidateBackchannelLogoutURI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		uri string
		ok  bool
	}{
		{"https://rp.example.com/backchannel", true},
		{"https://rp.example.com:8443/bc?tenant=a", true},
		{"https://10.0.0.7/bc", true}, // registered by an administrator: private addresses allowed
		{"http://127.0.0.1:8080/bc", true},
		{"http://[::1]/bc", true},
		{"http://localhost/bc", false},
		{"http://rp.example.com/bc", false},
		{"https://rp.example.com/bc#frag", false},
		{"https:///bc", false},
		{"https://user:pass@rp.example.com/bc", false},
		{"/relative", false},
		{"javascript:alert(1)", false},
		{"ftp://rp.example.com/bc", false},
		{"https://rp.example.com/b c", false},
		{"", false},
	}
	for _, tt := range tests {
		err := ValidateBackchannelLogoutURI(tt.uri)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateBackchannelLogoutURI(%q) = %v, want ok %v", tt.uri, err, tt.ok)
		}
		if err != nil && keyward.ErrorCode(err) != keyward.EINVALID {
			t.Errorf("ValidateBackchannelLogoutURI(%q) = %v, want an EINVALID error", tt.uri, err)
		}
	}
	c := keyward.Client{Name: "rp", GrantTypes: []string{GrantClientCredentials}, BackchannelLogoutURI: "http://rp.example.com/bc"}
	if err := ValidateClient(c); err == nil {
		t.Error("ValidateClient accepted a client with an http back-channel logout URI to another host")
	}
}

// FuzzValidateBackchannelLogoutURI checks that every accepted URI is an
// absolute https URI with a host, or http to a loopback IP, without a
// fragment or credentials: where the issuer posts logout tokens.
func FuzzValidateBackchannelLogoutURI(f *testing.F) {
	for _, s := range []string{"https://rp.example.com/bc", "http://127.0.0.1:1/bc", "http://[::1]/", "https://a/#x",
		"HTTPS://A", "http://127.0.0.1.example.com/", "https://u@h/", "https:opaque", "http://0x7f.1/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		if ValidateBackchannelLogoutURI(uri) != nil {
			return
		}
		u, err := url.Parse(uri)
		if err != nil {
			t.Fatalf("accepted %q, which does not parse: %v", uri, err)
		}
		if u.Fragment != "" || strings.Contains(uri, "#") || u.User != nil || u.Hostname() == "" {
			t.Fatalf("accepted %q: fragment, credentials or no host", uri)
		}
		switch strings.ToLower(u.Scheme) {
		case "https":
		case "http":
			if !strings.HasPrefix(u.Hostname(), "127.") && u.Hostname() != "::1" && !strings.HasPrefix(u.Hostname(), "::ffff:127.") {
				t.Fatalf("accepted %q: http to %q", uri, u.Hostname())
			}
		default:
			t.Fatalf("accepted %q: scheme %q", uri, u.Scheme)
		}
	})
}

// bcFixture is a code fixture whose client "spa" registered a back-channel
// logout URI, with a second client "plain" that did not.
func bcFixture(t *testing.T, b backend, mutate func(*Config)) (*fixture, keyward.User, keyward.Client, keyward.Client) {
	t.Helper()
	f, u, spa := codeFixture(t, b, mutate)
	if err := f.store.UpdateClient(t.Context(), spa.ID, func(c *keyward.Client) error {
		c.BackchannelLogoutURI = "https://spa.example/bc"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	plain := keyward.Client{ID: "plain", Public: true, RedirectURIs: []string{"https://plain.example/cb"},
		GrantTypes: []string{GrantAuthorizationCode}}
	if err := f.store.CreateClient(t.Context(), plain); err != nil {
		t.Fatal(err)
	}
	return f, u, spa, plain
}

// signedIn opens a session of alice and redeems a code in it at each of
// clients; it returns the session's cookie, the session and the ID token
// of the first client.
func (f *fixture) signedIn(t *testing.T, clients ...keyward.Client) (string, keyward.Session, string) {
	t.Helper()
	cookie, sess, err := f.issuer.StartSession(t.Context(), LoginRequest{Username: "alice", Password: "correct horse battery staple", RemoteAddr: "192.0.2.1:5"})
	if err != nil {
		t.Fatal(err)
	}
	var idToken string
	for n, c := range clients {
		code := f.code(t, c, sess, "openid")
		resp, err := f.issuer.ExchangeCode(t.Context(), CodeRequest{Code: code, RedirectURI: c.RedirectURIs[0], CodeVerifier: testVerifier, ClientID: c.ID})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			idToken = resp.IDToken
		}
	}
	return cookie, sess, idToken
}

// outbox claims every queued logout.
func (f *fixture) outbox(t *testing.T) []keyward.BackchannelLogout {
	t.Helper()
	ls, err := f.store.ClaimBackchannelLogouts(t.Context(), f.clock.Now().Add(time.Hour), time.Hour, 100)
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

// TestBackchannelQueued checks that every way a session ends queues one
// logout for each client issued tokens in it that registered a
// back-channel logout URI, and only for those.
func TestBackchannelQueued(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			f, u, spa, plain := bcFixture(t, b, nil)
			ctx := t.Context()
			want := func(what string, sess keyward.Session) {
				t.Helper()
				ls := f.outbox(t)
				if len(ls) != 1 || ls[0].ClientID != spa.ID || ls[0].SessionID != sess.ID || ls[0].UserID != u.ID {
					t.Fatalf("%s: outbox = %+v, want one logout of spa for session %s of %s", what, ls, sess.ID, u.ID)
				}
				if err := f.store.DeleteBackchannelLogout(ctx, ls[0].ID); err != nil {
					t.Fatal(err)
				}
			}
			// A first-party password login opens no session: nothing to queue.
			if _, err := f.issuer.Login(ctx, LoginRequest{Username: "alice", Password: "correct horse battery staple"}); err != nil {
				t.Fatal(err)
			}

			cookie, sess, _ := f.signedIn(t, spa, plain)
			f.clock.Add(time.Second)
			if err := f.issuer.EndSession(ctx, cookie); err != nil {
				t.Fatal(err)
			}
			want("logout", sess)
			// Ending it again queues nothing more.
			f.clock.Add(time.Second)
			if err := f.issuer.EndSession(ctx, cookie); err != nil {
				t.Fatal(err)
			}
			if ls := f.outbox(t); len(ls) != 0 {
				t.Fatalf("second logout queued %+v", ls)
			}

			// A code issued to spa but never redeemed: spa got no token in
			// the session, and is not told of its end.
			_, sess2, _ := f.signedIn(t, plain)
			f.code(t, spa, sess2, "openid")
			_, sess3, _ := f.signedIn(t, spa)
			f.clock.Add(time.Second)
			if err := EndUserAccess(ctx, f.store, u.ID, f.clock.Now()); err != nil {
				t.Fatal(err)
			}
			want("end of the user's access", sess3)

			// Another user signing in in the browser ends the session.
			if _, err := NewUser(ctx, f.store, "bob", "correct horse battery staple", nil, nil, testPassword, nil); err != nil {
				t.Fatal(err)
			}
			cookie, sess4, _ := f.signedIn(t, spa)
			f.clock.Add(time.Second)
			if _, _, err := f.issuer.SignIn(ctx, LoginRequest{Username: "bob", Password: "correct horse battery staple"}, cookie); err != nil {
				t.Fatal(err)
			}
			want("another user signing in", sess4)
		})
	}
}

// TestBackchannelQueueFull checks that the outbox holds at most
// Config.BackchannelQueueLimit logouts, and that the logouts dropped are
// logged while the logout itself succeeds.
func TestBackchannelQueueFull(t *testing.T) {
	t.Parallel()
	b := backends(t)[0]
	f, _, spa, _ := bcFixture(t, b, func(c *Config) { c.BackchannelQueueLimit = 2 })
	for range 5 {
		cookie, _, _ := f.signedIn(t, spa)
		f.clock.Add(time.Second)
		if err := f.issuer.EndSession(t.Context(), cookie); err != nil {
			t.Fatalf("EndSession with a full outbox: %v", err)
		}
	}
	if ls := f.outbox(t); len(ls) != 2 {
		t.Errorf("outbox holds %d logouts, want its limit 2", len(ls))
	}
	if n := strings.Count(f.log.String(), `"msg":"backchannel_logout_dropped"`); n != 3 {
		t.Errorf("logged %d backchannel_logout_dropped lines, want 3:\n%s", n, f.log.String())
	}
}

// TestLogoutToken checks the logout token of a queued logout (OpenID
// Connect Back-Channel Logout 1.0 §2.4) and when none is made.
func TestLogoutToken(t *testing.T) {
	t.Parallel()
	f, u, spa, _ := bcFixture(t, backends(t)[0], nil)
	ctx := t.Context()
	_, sess, idToken := f.signedIn(t, spa)
	d, err := f.issuer.LogoutToken(ctx, keyward.BackchannelLogout{ClientID: spa.ID, UserID: u.ID, SessionID: sess.ID})
	if err != nil {
		t.Fatal(err)
	}
	if d.ClientID != spa.ID || d.URI != "https://spa.example/bc" {
		t.Errorf("delivery to %q at %q, want spa at its URI", d.ClientID, d.URI)
	}
	set, algs := f.keys.KeySet()
	tok, err := jose.VerifyJWT(d.Token, set, algs, &jose.Policy{Issuers: []string{"https://issuer.test"}, Audiences: []string{spa.ID},
		Types: []string{LogoutTokenType}, Required: []string{"iat", "jti", "sub", "sid", "events"}, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	id, err := jose.Parse(idToken)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Header.Algorithm != id.Header.Algorithm || tok.Header.KeyID != id.Header.KeyID {
		t.Errorf("logout token signed with %s %s, the client's ID tokens with %s %s", tok.Header.Algorithm, tok.Header.KeyID, id.Header.Algorithm, id.Header.KeyID)
	}
	c := tok.Claims
	if c.Subject != u.ID || c.String("sid") != sess.ID || c.Expiry.Time().Sub(c.IssuedAt.Time()) != LogoutTokenTTL || c.ID == "" {
		t.Errorf("claims = %+v, want sub %s, sid %s, a jti and a life of %s", c, u.ID, sess.ID, LogoutTokenTTL)
	}
	if _, ok := c.Extra["nonce"]; ok {
		t.Error("a logout token carries a nonce")
	}
	events, ok := c.Extra["events"].(map[string]any)
	if ev, isObj := events[BackchannelLogoutEvent].(map[string]any); !ok || !isObj || len(ev) != 0 || len(events) != 1 {
		t.Errorf("events = %#v, want {%q: {}}", c.Extra["events"], BackchannelLogoutEvent)
	}
	d2, err := f.issuer.LogoutToken(ctx, keyward.BackchannelLogout{ClientID: spa.ID, UserID: u.ID, SessionID: sess.ID})
	if err != nil {
		t.Fatal(err)
	}
	if tok2, _ := jose.Parse(d2.Token); tok2 == nil || d2.Token == d.Token {
		t.Error("two logout tokens are the same: each needs its own jti")
	}

	for _, tt := range []struct {
		name   string
		edit   func(*keyward.Client)
		logout keyward.BackchannelLogout
	}{
		{name: "URI removed", edit: func(c *keyward.Client) { c.BackchannelLogoutURI = "" },
			logout: keyward.BackchannelLogout{ClientID: spa.ID, UserID: u.ID, SessionID: sess.ID}},
		{name: "sid required, none", edit: func(c *keyward.Client) { c.BackchannelLogoutSessionRequired = true },
			logout: keyward.BackchannelLogout{ClientID: spa.ID, UserID: u.ID}},
		{name: "URI no longer valid", edit: func(c *keyward.Client) { c.BackchannelLogoutURI = "http://spa.example/bc" },
			logout: keyward.BackchannelLogout{ClientID: spa.ID, UserID: u.ID, SessionID: sess.ID}},
		{name: "client deleted", logout: keyward.BackchannelLogout{ClientID: "gone", UserID: u.ID, SessionID: sess.ID}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.edit != nil {
				old, err := f.store.GetClient(ctx, spa.ID)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					if err := f.store.UpdateClient(ctx, spa.ID, func(c *keyward.Client) error { *c = old; return nil }); err != nil {
						t.Fatal(err)
					}
				})
				if err := f.store.UpdateClient(ctx, spa.ID, func(c *keyward.Client) error { tt.edit(c); return nil }); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := f.issuer.LogoutToken(ctx, tt.logout); !errors.Is(err, ErrNoBackchannel) {
				t.Errorf("LogoutToken = %v, want ErrNoBackchannel", err)
			}
		})
	}
}
