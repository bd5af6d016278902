package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// fullClient returns a client with every field set.
func fullClient(n int) keyward.Client {
	return keyward.Client{
		ID:                               id("client", n),
		Name:                             "Client " + id("", n),
		SecretHash:                       "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$c2VjcmV0",
		RedirectURIs:                     []string{"https://app.example.com/cb", "http://127.0.0.1:8080/cb"},
		PostLogoutRedirectURIs:           []string{"https://app.example.com/bye", "http://127.0.0.1:8080/bye?x=1"},
		GrantTypes:                       []string{"authorization_code", "refresh_token"},
		Scopes:                           []string{"openid", "profile"},
		Audience:                         "https://api.example.com",
		JWKSURL:                          "https://app.example.com/jwks.json",
		JWKS:                             []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`),
		CreatedAt:                        at(-time.Hour),
		IDTokenSignedResponseAlg:         "RS256",
		BackchannelLogoutURI:             "https://app.example.com/backchannel",
		BackchannelLogoutSessionRequired: true,
		RequireDPoP:                      true,
	}
}

func normClient(c keyward.Client) keyward.Client {
	c.CreatedAt = norm(c.CreatedAt)
	return c
}

func clientTests() []testCase {
	return []testCase{
		{name: "Client/RoundTrip", run: testClientRoundTrip},
		{name: "Client/Defaults", run: testClientDefaults},
		{name: "Client/CreateErrors", run: testClientCreateErrors},
		{name: "Client/List", run: testClientList},
		{name: "Client/Update", run: testClientUpdate},
		{name: "Client/PostLogoutRedirectURIs", run: testClientPostLogoutRedirectURIs},
		{name: "Client/Delete", run: testClientDelete},
	}
}

func testClientRoundTrip(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	c := fullClient(1)
	must(t, "CreateClient", s.CreateClient(ctx, c))
	got, err := s.GetClient(ctx, c.ID)
	must(t, "GetClient", err)
	equal(t, "GetClient", got, normClient(c))
	c.JWKS[0] = 'X'
	c.Scopes[0] = "changed"
	c.PostLogoutRedirectURIs[0] = "https://evil.example/"
	again, err := s.GetClient(ctx, c.ID)
	must(t, "GetClient", err)
	equal(t, "GetClient after mutating", again, normClient(fullClient(1)))
	_, err = s.GetClient(ctx, "nobody")
	wantErr(t, "GetClient(missing)", err, keyward.ErrNotFound)
}

func testClientDefaults(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	before := time.Now().Add(-time.Minute)
	must(t, "CreateClient", s.CreateClient(ctx, keyward.Client{ID: "public", Public: true}))
	got, err := s.GetClient(ctx, "public")
	must(t, "GetClient", err)
	if got.CreatedAt.Before(before) || got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt = %v, want the store's clock in UTC", got.CreatedAt)
	}
	equal(t, "GetClient", got, keyward.Client{ID: "public", Public: true, CreatedAt: got.CreatedAt})
}

func testClientCreateErrors(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	must(t, "CreateClient", s.CreateClient(ctx, fullClient(1)))
	tests := []struct {
		name   string
		client keyward.Client
		want   error
	}{
		{name: "duplicate id", client: keyward.Client{ID: fullClient(1).ID, Name: "other"}, want: keyward.ErrConflict},
		{name: "same name, other id", client: keyward.Client{ID: "other", Name: fullClient(1).Name}, want: nil},
		{name: "empty id", client: keyward.Client{Name: "x"}, want: keyward.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, "CreateClient", s.CreateClient(ctx, tt.client), tt.want)
		})
	}
	got, err := s.GetClient(ctx, fullClient(1).ID)
	must(t, "GetClient", err)
	equal(t, "GetClient", got, normClient(fullClient(1)))
}

func testClientList(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	clients, err := s.ListClients(ctx)
	must(t, "ListClients", err)
	if len(clients) != 0 {
		t.Fatalf("ListClients() on an empty store = %+v", clients)
	}
	for _, n := range []int{2, 3, 1} {
		must(t, "CreateClient", s.CreateClient(ctx, fullClient(n)))
	}
	clients, err = s.ListClients(ctx)
	must(t, "ListClients", err)
	equal(t, "ListClients", clients, []keyward.Client{
		normClient(fullClient(1)), normClient(fullClient(2)), normClient(fullClient(3)),
	})
}

func testClientUpdate(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	c := fullClient(1)
	must(t, "CreateClient", s.CreateClient(ctx, c))
	errBoom := errors.New("boom")
	tests := []struct {
		name string
		fn   func(*keyward.Client) error
		want error
		then keyward.Client
	}{
		{
			name: "fn error", want: errBoom, then: normClient(c),
			fn: func(c *keyward.Client) error { c.Name = "x"; return errBoom },
		},
		{
			name: "no change", want: nil, then: normClient(c),
			fn: func(c *keyward.Client) error { c.Name = "x"; return keyward.ErrNoChange },
		},
		{
			name: "id changed", want: keyward.ErrInvalid, then: normClient(c),
			fn: func(c *keyward.Client) error { c.ID = "x"; return nil },
		},
		{
			name: "update", want: nil,
			fn: func(got *keyward.Client) error {
				equal(t, "fn argument", *got, normClient(c))
				got.Name = "renamed"
				got.SecretHash = ""
				got.Public = true
				got.RedirectURIs = []string{"https://new.example.com/cb"}
				got.PostLogoutRedirectURIs = []string{"https://new.example.com/bye"}
				got.JWKS = nil
				got.IDTokenSignedResponseAlg = "ES256"
				got.BackchannelLogoutURI, got.BackchannelLogoutSessionRequired = "https://new.example.com/bc", false
				got.RequireDPoP = false
				return nil
			},
			then: func() keyward.Client {
				w := normClient(c)
				w.Name, w.SecretHash, w.Public = "renamed", "", true
				w.RedirectURIs, w.JWKS = []string{"https://new.example.com/cb"}, nil
				w.PostLogoutRedirectURIs = []string{"https://new.example.com/bye"}
				w.IDTokenSignedResponseAlg = "ES256"
				w.BackchannelLogoutURI, w.BackchannelLogoutSessionRequired = "https://new.example.com/bc", false
				w.RequireDPoP = false
				return w
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, "UpdateClient", s.UpdateClient(ctx, c.ID, tt.fn), tt.want)
			got, err := s.GetClient(ctx, c.ID)
			must(t, "GetClient", err)
			equal(t, "client after update", got, tt.then)
		})
	}
	err := s.UpdateClient(ctx, "nobody", func(*keyward.Client) error { return nil })
	wantErr(t, "UpdateClient(missing)", err, keyward.ErrNotFound)
}

func testClientDelete(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	for n := 1; n <= 2; n++ {
		c := fullClient(n)
		must(t, "CreateClient", s.CreateClient(ctx, c))
		must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, keyward.RefreshToken{
			Hash: hash(id("refresh", n)), FamilyID: id("family", n), UserID: "u", ClientID: c.ID, ExpiresAt: at(time.Hour),
		}))
		must(t, "CreateAuthCode", s.CreateAuthCode(ctx, keyward.AuthCode{Hash: hash(id("code", n)), UserID: "u", ClientID: c.ID, ExpiresAt: at(time.Hour)}))
	}
	must(t, "DeleteClient", s.DeleteClient(ctx, fullClient(1).ID))
	_, err := s.GetClient(ctx, fullClient(1).ID)
	wantErr(t, "GetClient(deleted)", err, keyward.ErrNotFound)
	_, err = s.GetRefreshToken(ctx, hash(id("refresh", 1)))
	wantErr(t, "GetRefreshToken(deleted client's)", err, keyward.ErrNotFound)
	_, err = s.ConsumeAuthCode(ctx, hash(id("code", 1)), at(0))
	wantErr(t, "ConsumeAuthCode(deleted client's)", err, keyward.ErrNotFound)
	wantErr(t, "DeleteClient(again)", s.DeleteClient(ctx, fullClient(1).ID), keyward.ErrNotFound)

	_, err = s.GetClient(ctx, fullClient(2).ID)
	must(t, "GetClient(other)", err)
	_, err = s.GetRefreshToken(ctx, hash(id("refresh", 2)))
	must(t, "GetRefreshToken(other)", err)
	_, err = s.ConsumeAuthCode(ctx, hash(id("code", 2)), at(0))
	must(t, "ConsumeAuthCode(other)", err)
}

// testClientPostLogoutRedirectURIs checks that a client's post-logout
// redirect URIs are kept exactly as given (order, query, no
// normalisation), and that an update can clear them.
func testClientPostLogoutRedirectURIs(t *testing.T, s keyward.Store) {
	ctx := t.Context()
	uris := []string{"https://b.example/bye?x=1&y=2", "https://a.example/Bye", "com.example.app:/bye", "http://127.0.0.1:5000/bye"}
	c := keyward.Client{ID: "rp", RedirectURIs: []string{"https://b.example/cb"}, PostLogoutRedirectURIs: uris}
	must(t, "CreateClient", s.CreateClient(ctx, c))
	got, err := s.GetClient(ctx, "rp")
	must(t, "GetClient", err)
	equal(t, "PostLogoutRedirectURIs", got.PostLogoutRedirectURIs, uris)
	must(t, "UpdateClient", s.UpdateClient(ctx, "rp", func(c *keyward.Client) error {
		c.PostLogoutRedirectURIs = nil
		return nil
	}))
	got, err = s.GetClient(ctx, "rp")
	must(t, "GetClient", err)
	if got.PostLogoutRedirectURIs != nil {
		t.Errorf("PostLogoutRedirectURIs after clearing = %q, want nil", got.PostLogoutRedirectURIs)
	}
	equal(t, "RedirectURIs after clearing", got.RedirectURIs, c.RedirectURIs)
}
