package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/issuer"
	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/storage/memory"
	"github.com/keyward/keyward/verifier"
)

// revocationIssuer is an issuer served over loopback HTTP with a memory
// store.
type revocationIssuer struct {
	url   string
	store keyward.Store
	srv   *httptest.Server
}

func startRevocationIssuer(t *testing.T) *revocationIssuer {
	t.Helper()
	store := memory.New(memory.Config{})
	var h http.Handler = http.NotFoundHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	logger := slog.New(slog.DiscardHandler)
	sealer, err := issuer.NewSealer(bytes.Repeat([]byte{9}, issuer.MasterKeySize), nil)
	if err != nil {
		t.Fatal(err)
	}
	km, err := issuer.NewKeyManager(issuer.KeyManagerConfig{Store: store, Sealer: sealer, Alg: jose.ES256, JWKSMaxAge: time.Minute, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := km.Step(t.Context()); err != nil {
		t.Fatal(err)
	}
	iss, err := issuer.New(issuer.Config{Store: store, Keys: km, Issuer: srv.URL, Logger: logger,
		Password: issuer.PasswordParams{Memory: 64, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.New(server.Config{Issuer: iss, Store: store, Revocations: store, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	h = s
	return &revocationIssuer{url: srv.URL, store: store, srv: srv}
}

// login returns an access token for the user.
func (ri *revocationIssuer) login(t *testing.T, user, password string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, ri.url+"/login", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr issuer.TokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || resp.StatusCode != http.StatusOK || tr.AccessToken == "" {
		t.Fatalf("login: %d %v", resp.StatusCode, err)
	}
	return tr.AccessToken
}

// revoke revokes an access token at the issuer's /revoke endpoint.
func (ri *revocationIssuer) revoke(t *testing.T, token string) {
	t.Helper()
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, ri.url+"/revoke", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
}

// refusedWithin polls the gate with each token until all are refused with
// 401 and returns how long that took, failing the test after limit.
func refusedWithin(t *testing.T, gateURL string, limit time.Duration, tokens ...string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		refused := 0
		for _, tok := range tokens {
			code, hdr, _ := httpGet(t, gateURL+"/protected", tok)
			switch code {
			case http.StatusUnauthorized:
				if !strings.Contains(hdr.Get("WWW-Authenticate"), "invalid_token") {
					t.Fatalf("401 without invalid_token: %q", hdr.Get("WWW-Authenticate"))
				}
				refused++
			case http.StatusOK:
			default:
				t.Fatalf("gate answered %d", code)
			}
		}
		elapsed := time.Since(start)
		if refused == len(tokens) {
			return elapsed
		}
		if elapsed > limit {
			t.Fatalf("%d of %d revoked tokens still accepted after %v", len(tokens)-refused, len(tokens), elapsed)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestGateRefusesRevokedTokens revokes at the issuer tokens that the gate
// has verified and cached, and measures how long the gate, polling the
// revocation feed every 2 s, keeps accepting them: at most 5 s.
func TestGateRefusesRevokedTokens(t *testing.T) {
	if testing.Short() {
		t.Skip("waits on the revocation poll")
	}
	ri := startRevocationIssuer(t)
	u, err := issuer.NewUser(t.Context(), ri.store, "alice", "correct horse", nil, nil, issuer.PasswordParams{Memory: 64, Time: 1, Threads: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := issuer.NewUser(t.Context(), ri.store, "bob", "battery staple", nil, nil, issuer.PasswordParams{Memory: 64, Time: 1, Threads: 1}, nil); err != nil {
		t.Fatal(err)
	}
	gateURL, logs, stop := startGateCmd(t, nil,
		"--jwks-url", ri.url+"/jwks.json", "--issuer", ri.url, "--audience", issuer.DefaultAudience, "--algs", "ES256",
		"--revocations", ri.url+"/revocations", "--revocations-every", "2s")
	defer func() {
		if code := stop(); code != 0 {
			t.Errorf("gate exited with %d: %s", code, logs)
		}
	}()

	if !strings.Contains(logs.String(), "revocations=\""+ri.url+"/revocations long-poll 20s, else every 2s\"") {
		t.Errorf("the start-up line does not name the revocation feed: %s", logs)
	}

	accepted := func(t *testing.T, tokens ...string) {
		t.Helper()
		for _, tok := range tokens {
			if code, _, body := httpGet(t, gateURL+"/protected", tok); code != http.StatusOK {
				t.Fatalf("gate refused a valid token: %d %s", code, body)
			}
		}
	}

	t.Run("access token", func(t *testing.T) {
		tok := ri.login(t, "alice", "correct horse")
		other := ri.login(t, "bob", "battery staple")
		accepted(t, tok, other) // now in the gate's verified-token cache
		ri.revoke(t, tok)
		d := refusedWithin(t, gateURL, 5*time.Second, tok)
		t.Logf("revoked access token refused by the gate %v after the revocation", d.Round(time.Millisecond))
		accepted(t, other)
	})

	t.Run("user", func(t *testing.T) {
		first := ri.login(t, "alice", "correct horse")
		second := ri.login(t, "alice", "correct horse")
		bob := ri.login(t, "bob", "battery staple")
		accepted(t, first, second, bob)
		if err := ri.store.RevokeUser(t.Context(), keyward.UserRevocation{UserID: u.ID, Before: time.Now()}); err != nil {
			t.Fatal(err)
		}
		d := refusedWithin(t, gateURL, 5*time.Second, first, second)
		t.Logf("user's tokens refused by the gate %v after the revocation", d.Round(time.Millisecond))
		accepted(t, bob)
		// A token issued after the cutoff's second is accepted.
		time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 10*time.Millisecond)))
		accepted(t, ri.login(t, "alice", "correct horse"))
	})

	// With the issuer down the last good list stays in force: the revoked
	// token is still refused after more than one poll, a valid one accepted.
	t.Run("issuer down", func(t *testing.T) {
		tok := ri.login(t, "bob", "battery staple")
		revoked := ri.login(t, "bob", "battery staple")
		accepted(t, tok, revoked)
		ri.revoke(t, revoked)
		refusedWithin(t, gateURL, 5*time.Second, revoked)
		ri.srv.CloseClientConnections() // the gate's held long-poll too
		ri.srv.Close()
		time.Sleep(2500 * time.Millisecond)
		refusedWithin(t, gateURL, 0, revoked)
		accepted(t, tok)
		if !strings.Contains(logs.String(), "revocation_feed_unavailable") {
			t.Errorf("the gate did not log the failing feed: %s", logs)
		}
	})
}

// TestUserDisableRevokesAccessTokens checks that "keyward user disable"
// records a cutoff for the user's tokens, which the revocation feed
// publishes.
func TestUserDisableRevokesAccessTokens(t *testing.T) {
	t.Parallel()
	data := storeArgs(t)
	mustRun(t, append([]string{"user", "add", "alice"}, data...)...)
	before := time.Now().Add(-time.Second)
	out := mustRun(t, append([]string{"user", "disable", "alice"}, data...)...)
	if !strings.Contains(out, "access tokens listed in /revocations") {
		t.Errorf("disable says %q", out)
	}
	store := openStore(t, data[1])
	u, err := store.GetUserByName(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	revs, err := store.ListUserRevocations(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(revs) != 1 || revs[0].UserID != u.ID || revs[0].Before.Before(before) || revs[0].Before.After(time.Now()) {
		t.Fatalf("user revocations %+v, want one for %s at the time of disable", revs, u.ID)
	}
}

// TestSweepPrunesUserCutoffs sweeps the issuer's store and checks that a
// user cutoff older than the access-token lifetime plus the margin leaves
// the revocation feed while a recent one stays.
func TestSweepPrunesUserCutoffs(t *testing.T) {
	t.Parallel()
	ri := startRevocationIssuer(t)
	const accessTTL = 15 * time.Minute
	now := time.Now()
	horizon := now.Add(-(accessTTL + issuer.CutoffMargin))
	cutoffs := []keyward.UserRevocation{
		{UserID: "u-old", Before: horizon.Add(-time.Minute)},
		{UserID: "u-margin", Before: horizon.Add(time.Minute)}, // its tokens may still be within a verifier's leeway
		{UserID: "u-recent", Before: now.Add(-time.Minute)},
	}
	for _, c := range cutoffs {
		if err := ri.store.RevokeUser(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
	feedUsers := func() []string {
		t.Helper()
		code, _, body := httpGet(t, ri.url+"/revocations", "")
		if code != http.StatusOK {
			t.Fatalf("GET /revocations: %d %s", code, body)
		}
		var feed verifier.RevocationFeed
		if err := json.Unmarshal([]byte(body), &feed); err != nil {
			t.Fatal(err)
		}
		var subs []string
		for _, u := range feed.Users {
			subs = append(subs, u.Sub)
		}
		return subs
	}
	if got := feedUsers(); !slices.Equal(got, []string{"u-margin", "u-old", "u-recent"}) {
		t.Fatalf("feed users before the sweep = %q", got)
	}

	var logs syncBuf
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sw, err := issuer.NewSweeper(issuer.SweeperConfig{Store: ri.store, AccessTTL: accessTTL, Logger: logger, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := feedUsers(); !slices.Equal(got, []string{"u-margin", "u-recent"}) {
		t.Errorf("feed users after the sweep = %q, want u-margin and u-recent", got)
	}
	if !strings.Contains(logs.String(), "msg=sweep") || !strings.Contains(logs.String(), "user_revocations=1") {
		t.Errorf("the sweep does not log the cutoffs it deleted: %s", logs.String())
	}
}

// TestRevocationClientAllowsWait: the feed's client lets the issuer hold a
// long-poll for the whole wait; the JWKS client's 5 s would cut every one.
func TestRevocationClientAllowsWait(t *testing.T) {
	t.Parallel()
	c := revocationClient()
	min := verifier.DefaultRevocationWait + verifier.DefaultRevocationTimeout
	tr, ok := c.Transport.(*http.Transport)
	if c.Timeout < min || !ok || tr.ResponseHeaderTimeout < min || c.CheckRedirect == nil {
		t.Errorf("client timeout %v, transport %T, redirect policy %v; want at least %v and the JWKS client's policy", c.Timeout, c.Transport, c.CheckRedirect != nil, min)
	}
}

// TestGateReadyRevocationsStale: the gate is not ready while its
// revocation list is older than --revocations-max-stale, nor while its key
// set is not.
func TestGateReadyRevocationsStale(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	list, err := verifier.NewRevocationList(verifier.RevocationConfig{URL: "http://127.0.0.1:1/revocations",
		Client: &http.Client{}, MaxStale: time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	errKeys := errors.New("keys not loaded")
	keysOK, keysDown := func() error { return nil }, func() error { return errKeys }
	if err := gateReady(keysOK, list)(); err != nil {
		t.Errorf("fresh list: %v, want ready", err)
	}
	if err := gateReady(keysDown, list)(); !errors.Is(err, errKeys) {
		t.Errorf("keys down: %v, want the key set's error", err)
	}
	now = now.Add(time.Minute + time.Second)
	if err := gateReady(keysOK, list)(); !errors.Is(err, verifier.ErrRevocationStale) {
		t.Errorf("stale list: %v, want ErrRevocationStale", err)
	}
	if err := gateReady(keysOK, nil)(); err != nil {
		t.Errorf("no list: %v, want ready", err)
	}
}
