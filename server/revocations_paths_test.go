package server

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/gate"
	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/issuer"
	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/jwks"
	"github.com/keyward/keyward/storage/postgres"
	"github.com/keyward/keyward/verifier"
)

// TestRevocationPathsSQLite runs [testRevocationPaths] on SQLite, with one
// issuer.
func TestRevocationPathsSQLite(t *testing.T) {
	t.Parallel()
	testRevocationPaths(t, func(t *testing.T) (stackOptions, *stackOptions) { return stackOptions{sqlite: true}, nil })
}

// TestRevocationPathsPostgres runs [testRevocationPaths] on PostgreSQL with
// two issuer replicas on one database: every revocation is made on replica
// A, and the gate follows replica B's keys and feed.
func TestRevocationPathsPostgres(t *testing.T) {
	t.Parallel()
	db := pgtest.NewServer(t)
	testRevocationPaths(t, func(t *testing.T) (stackOptions, *stackOptions) {
		dsn := db.NewDatabase(t)
		open := func() stackOptions {
			ps, err := postgres.Open(t.Context(), postgres.Config{DSN: dsn})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ps.Close() })
			return stackOptions{store: ps}
		}
		a, b := open(), open()
		return a, &b
	})
}

// TestRevocationAcrossReplicas runs two issuer replicas on one PostgreSQL
// database: the tokens come from one, the revocations are made on it, and a
// gate following the other's JWKS and feed refuses them.
func TestRevocationAcrossReplicas(t *testing.T) {
	t.Parallel()
	db := pgtest.NewServer(t)
	dsn := db.NewDatabase(t)
	open := func() keyward.Store {
		ps, err := postgres.Open(t.Context(), postgres.Config{DSN: dsn})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ps.Close() })
		return ps
	}
	a := newStack(t, stackOptions{store: open()})
	b := newStack(t, stackOptions{store: open()})
	a.addUser(t, "alice", "correct horse battery staple")
	list, protected := revocationGate(t, b, a)

	first := a.login(t, "alice", "correct horse battery staple")
	refreshed := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}}
	resp, body := a.postForm(t, "/token", refreshed, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh: %d %s", resp.StatusCode, body)
	}
	second := decodeToken(t, resp, body)
	other := a.login(t, "alice", "correct horse battery staple")
	if err := list.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{first.AccessToken, second.AccessToken, other.AccessToken} {
		if code, _ := protected(t, tok); code != http.StatusOK {
			t.Fatalf("a token of replica A at a gate following replica B: %d", code)
		}
	}
	if resp, body := a.postForm(t, "/revoke", url.Values{"token": {second.RefreshToken}}, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke on replica A: %d %s", resp.StatusCode, body)
	}
	if err := list.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		tok  string
		want int
	}{{first.AccessToken, http.StatusUnauthorized}, {second.AccessToken, http.StatusUnauthorized}, {other.AccessToken, http.StatusOK}} {
		if code, _ := protected(t, tc.tok); code != tc.want {
			t.Errorf("token %d after the revocation on replica A, at a gate following B: %d, want %d", i, code, tc.want)
		}
	}
}

// revocationFlow is what one user holds in a test of the revocation paths:
// the access tokens of a code flow (the code's, then its refresh's), and
// those of a password login (the login's, then its refresh's), with the
// refresh tokens and the browser that signed in.
type revocationFlow struct {
	st                     *oidcStack
	user                   keyward.User
	browser                *http.Client
	code, verifier         string
	codeAccess             []string
	codeRefresh, codeFirst string // the latest refresh token, the first one
	loginAccess            []string
	loginRefresh           string
}

// testRevocationPaths checks, for every path that revokes at the issuer,
// that a gate following the feed refuses the access tokens it revokes, those
// minted by refreshes included, from its cache and afresh, and accepts the
// others, and that /userinfo refuses them too. opts gives the options of
// the issuer the tokens come from and the revocations are made on, and,
// when not nil, those of a second replica on the same database whose keys
// and feed the gate follows (its issuer URL differs, so /userinfo is asked
// of the first).
func testRevocationPaths(t *testing.T, opts func(*testing.T) (stackOptions, *stackOptions)) {
	refreshGrant := func(t *testing.T, f *revocationFlow, rt, clientID string) (*http.Response, []byte) {
		t.Helper()
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
		if clientID != "" {
			form.Set("client_id", clientID)
		}
		return f.st.postForm(t, "/token", form, nil)
	}
	refresh := func(t *testing.T, f *revocationFlow, rt, clientID string) issuer.TokenResponse {
		t.Helper()
		resp, b := refreshGrant(t, f, rt, clientID)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("refresh: %d %s", resp.StatusCode, b)
		}
		return decodeToken(t, resp, b)
	}
	endUser := func(t *testing.T, f *revocationFlow) {
		t.Helper()
		if err := issuer.EndUserAccess(t.Context(), f.st.store, f.user.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		revoke func(t *testing.T, f *revocationFlow)
		// codeRefused and loginRefused say which tokens the path revokes.
		codeRefused, loginRefused bool
	}{
		{name: "code reuse", codeRefused: true, revoke: func(t *testing.T, f *revocationFlow) {
			if resp, b := f.st.exchange(t, f.code, f.verifier, callback); resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("second code exchange: %d %s", resp.StatusCode, b)
			}
		}},
		{name: "refresh reuse", codeRefused: true, revoke: func(t *testing.T, f *revocationFlow) {
			if resp, b := refreshGrant(t, f, f.codeFirst, "spa"); resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("reused refresh token: %d %s", resp.StatusCode, b)
			}
		}},
		{name: "revoke refresh token", codeRefused: true, revoke: func(t *testing.T, f *revocationFlow) {
			if resp, b := f.st.postForm(t, "/revoke", url.Values{"token": {f.codeRefresh}, "client_id": {"spa"}}, nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("revoke: %d %s", resp.StatusCode, b)
			}
		}},
		{name: "revoke refresh token of a password login", loginRefused: true, revoke: func(t *testing.T, f *revocationFlow) {
			if resp, b := f.st.postForm(t, "/revoke", url.Values{"token": {f.loginRefresh}}, nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("revoke: %d %s", resp.StatusCode, b)
			}
		}},
		{name: "logout", codeRefused: true, revoke: func(t *testing.T, f *revocationFlow) {
			if err := f.st.issuer.EndSession(t.Context(), sessionValue(t, f.browser, f.st.stack)); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "password change", codeRefused: true, loginRefused: true, revoke: endUser},
		{name: "disable", codeRefused: true, loginRefused: true, revoke: func(t *testing.T, f *revocationFlow) {
			if err := f.st.store.UpdateUser(t.Context(), f.user.ID, func(u *keyward.User) error { u.Disabled = true; return nil }); err != nil {
				t.Fatal(err)
			}
			endUser(t, f)
		}},
		{name: "delete", codeRefused: true, loginRefused: true, revoke: func(t *testing.T, f *revocationFlow) {
			endUser(t, f)
			if err := f.st.store.DeleteUser(t.Context(), f.user.ID); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ao, bo := opts(t)
			st := newStack(t, ao)
			follow := st
			if bo != nil {
				follow = newStack(t, *bo)
			}
			f := &revocationFlow{st: &oidcStack{stack: st}, user: st.addUser(t, "alice", "correct horse battery staple")}
			st.addClient(t, keyward.Client{ID: "spa", Name: "Single-page app", Public: true, RedirectURIs: []string{callback},
				GrantTypes: []string{issuer.GrantAuthorizationCode, issuer.GrantRefreshToken}})

			// A code flow and its refresh, a password login and its refresh.
			f.browser, f.verifier = browser(t, st), newVerifier()
			f.code = f.st.signIn(t, f.browser, f.verifier)
			resp, b := f.st.exchange(t, f.code, f.verifier, callback)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("code exchange: %d %s", resp.StatusCode, b)
			}
			tr := decodeToken(t, resp, b)
			f.codeFirst = tr.RefreshToken
			next := refresh(t, f, tr.RefreshToken, "spa")
			f.codeAccess, f.codeRefresh = []string{tr.AccessToken, next.AccessToken}, next.RefreshToken
			tr = st.login(t, "alice", "correct horse battery staple")
			next = refresh(t, f, tr.RefreshToken, "")
			f.loginAccess, f.loginRefresh = []string{tr.AccessToken, next.AccessToken}, next.RefreshToken

			list, protected := revocationGate(t, follow, st)
			if err := list.Refresh(t.Context()); err != nil {
				t.Fatal(err)
			}
			// Accepted, and so cached, before the revocation; the code
			// flow's tokens carry the session and the family, the login's
			// the family alone.
			var codeClaims, loginClaims []map[string]any
			for _, tok := range f.codeAccess {
				code, claims := protected(t, tok)
				if code != http.StatusOK {
					t.Fatalf("code-flow token before the revocation: %d", code)
				}
				codeClaims = append(codeClaims, claims)
			}
			for _, tok := range f.loginAccess {
				code, claims := protected(t, tok)
				if code != http.StatusOK {
					t.Fatalf("login token before the revocation: %d", code)
				}
				loginClaims = append(loginClaims, claims)
			}
			if sid, fid := codeClaims[0]["sid"], codeClaims[0]["fid"]; sid == nil || sid == "" || fid == nil || fid == "" ||
				codeClaims[1]["sid"] != sid || codeClaims[1]["fid"] != fid {
				t.Errorf("code-flow claims %v then %v, want one sid and one fid in both", codeClaims[0], codeClaims[1])
			}
			if fid := loginClaims[0]["fid"]; fid == nil || fid == "" || loginClaims[1]["fid"] != fid || loginClaims[0]["sid"] != nil ||
				fid == codeClaims[0]["fid"] {
				t.Errorf("login claims %v then %v, want one fid of their own in both and no sid", loginClaims[0], loginClaims[1])
			}

			userinfo := func(tok string) int {
				resp, _ := st.do(t, http.MethodGet, "/userinfo", "", nil, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) })
				return resp.StatusCode
			}
			for i, tok := range f.codeAccess {
				if code := userinfo(tok); code != http.StatusOK {
					t.Fatalf("/userinfo with code-flow token %d before the revocation: %d", i, code)
				}
			}

			tt.revoke(t, f)
			if err := list.Refresh(t.Context()); err != nil {
				t.Fatal(err)
			}
			check := func(what string, tokens []string, refused bool) {
				want := http.StatusOK
				if refused {
					want = http.StatusUnauthorized
				}
				for i, tok := range tokens {
					for _, from := range []string{"cache", "afresh"} {
						if code, _ := protected(t, tok); code != want {
							t.Errorf("%s token %d (%s) after the revocation: %d, want %d", what, i, from, code, want)
						}
					}
				}
			}
			check("code-flow", f.codeAccess, tt.codeRefused)
			check("login", f.loginAccess, tt.loginRefused)
			// The issuer itself refuses what the feed refuses: a session, a
			// family or a user's cutoff.
			if tt.codeRefused {
				for i, tok := range f.codeAccess {
					if code := userinfo(tok); code != http.StatusUnauthorized {
						t.Errorf("/userinfo with code-flow token %d after the revocation: %d, want 401", i, code)
					}
				}
			}
		})
	}
}

// revocationGate returns a revocation list following the feed of the
// replica st and a function that calls /protected with a token on two
// gates, one whose verifier caches verified tokens (the default) and one
// without a cache, both taking the keys of st and the list and accepting
// the tokens that the replica iss issues; it fails the test when the two
// answer differently.
func revocationGate(t *testing.T, st, iss *stack) (*verifier.RevocationList, func(*testing.T, string) (int, map[string]any)) {
	t.Helper()
	keys, err := jwks.New(jwks.Config{URL: st.srv.URL + "/.well-known/jwks.json", Client: st.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	list, err := verifier.NewRevocationList(verifier.RevocationConfig{URL: st.srv.URL + "/revocations", Client: st.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	var apis []*httptest.Server
	for _, cacheSize := range []int{0, -1} {
		v, err := verifier.New(verifier.Config{
			Keys: keys, Issuers: []string{iss.srv.URL}, Audiences: []string{issuer.DefaultAudience},
			Algorithms: []jose.Algorithm{jose.ES256}, Revocations: list, CacheSize: cacheSize,
		})
		if err != nil {
			t.Fatal(err)
		}
		g, err := gate.New(gate.Config{Verifier: v})
		if err != nil {
			t.Fatal(err)
		}
		api := httptest.NewServer(g)
		t.Cleanup(api.Close)
		apis = append(apis, api)
	}
	call := func(t *testing.T, api *httptest.Server, token string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, api.URL+"/protected", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := api.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.UnmarshalRead(resp.Body, &body)
		claims, _ := body["claims"].(map[string]any)
		return resp.StatusCode, claims
	}
	return list, func(t *testing.T, token string) (int, map[string]any) {
		t.Helper()
		code, claims := call(t, apis[0], token)
		if uncached, _ := call(t, apis[1], token); uncached != code {
			t.Errorf("the gate with a cache answered %d, the gate without %d", code, uncached)
		}
		return code, claims
	}
}
