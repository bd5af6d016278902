package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/issuer"
	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/storage/memory"
)

// logoutPost is what a relying party received at its back-channel logout
// URI.
type logoutPost struct {
	method, contentType string
	form                url.Values
}

// relyingParty is a client's back-channel logout endpoint on 127.0.0.1.
// It hands each request to got and answers 200, after release is closed
// when it was made with block.
type relyingParty struct {
	srv     *httptest.Server
	got     chan logoutPost
	release chan struct{}
}

func newRelyingParty(t *testing.T, block bool) *relyingParty {
	t.Helper()
	rp := &relyingParty{got: make(chan logoutPost, 16), release: make(chan struct{})}
	rp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		form, _ := url.ParseQuery(string(b))
		rp.got <- logoutPost{method: r.Method, contentType: r.Header.Get("Content-Type"), form: form}
		if block {
			<-rp.release
		}
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rp.srv.Close)
	t.Cleanup(func() { close(rp.release) }) // runs first
	return rp
}

// next returns the logout token of the next request, waiting a bounded time.
func (rp *relyingParty) next(t *testing.T) string {
	t.Helper()
	select {
	case p := <-rp.got:
		if p.method != http.MethodPost || p.contentType != "application/x-www-form-urlencoded" || len(p.form) != 1 || len(p.form["logout_token"]) != 1 {
			t.Fatalf("relying party got %s %q %v, want a POST of a form with logout_token alone", p.method, p.contentType, p.form)
		}
		return p.form.Get("logout_token")
	case <-time.After(10 * time.Second):
		t.Fatal("no logout token reached the relying party within 10 s")
	}
	return ""
}

// outcomes records the outcomes of a Backchannel and hands each to a
// channel too.
type outcomes struct {
	mu   sync.Mutex
	n    map[string]int
	each chan string
}

func newOutcomes() *outcomes { return &outcomes{n: map[string]int{}, each: make(chan string, 64)} }

func (o *outcomes) BackchannelLogout(outcome string) {
	o.mu.Lock()
	o.n[outcome]++
	o.mu.Unlock()
	select {
	case o.each <- outcome:
	default:
	}
}

func (o *outcomes) count(outcome string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[outcome]
}

// runBackchannel runs a deliverer for st until the test ends.
func runBackchannel(t *testing.T, cfg BackchannelConfig) {
	t.Helper()
	bc, err := NewBackchannel(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- bc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	})
}

// validateLogoutToken validates a logout token as a relying party must
// (OpenID Connect Back-Channel Logout 1.0 §2.6): the signature with a key
// of the issuer's published JWK Set under the algorithms the client
// expects of its ID tokens; iss, aud and iat as for an ID token; typ
// logout+jwt; an events claim holding the back-channel logout member with
// a JSON object; a sid or a sub; and no nonce. It returns the claims.
func validateLogoutToken(t *testing.T, st *stack, token, clientID string) *jose.Claims {
	t.Helper()
	resp, b := st.do(t, http.MethodGet, "/.well-known/jwks.json", "", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("JWKS: %d %s", resp.StatusCode, b)
	}
	set, err := jose.ParseJWKS(b)
	if err != nil {
		t.Fatal(err)
	}
	algs, err := jose.NewAlgorithmSet(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jose.VerifyJWT(token, set, algs, &jose.Policy{Issuers: []string{st.srv.URL}, Audiences: []string{clientID},
		Types: []string{"logout+jwt"}, Required: []string{"iat", "jti", "events"}, Leeway: 30 * time.Second})
	if err != nil {
		t.Fatalf("logout token refused: %v", err)
	}
	if tok.Header.Type != "logout+jwt" {
		t.Errorf("typ %q, want logout+jwt exactly", tok.Header.Type)
	}
	c := tok.Claims
	if iat := c.IssuedAt.Time(); iat.After(time.Now().Add(30*time.Second)) || c.Expiry.Time().Sub(iat) > 2*time.Minute {
		t.Errorf("iat %v, exp %v: want iat now and a life of at most two minutes", iat, c.Expiry.Time())
	}
	events, _ := c.Extra["events"].(map[string]any)
	if _, ok := events["http://schemas.openid.net/event/backchannel-logout"].(map[string]any); !ok {
		t.Errorf("events = %#v, want the back-channel logout member with an object", c.Extra["events"])
	}
	if c.Subject == "" && c.String("sid") == "" {
		t.Error("neither sub nor sid")
	}
	if _, ok := c.Extra["nonce"]; ok {
		t.Error("a logout token carries a nonce")
	}
	return c
}

// sidOf returns the sid of an ID token, unverified.
func sidOf(t *testing.T, idToken string) string {
	t.Helper()
	j, err := jose.Parse(idToken)
	if err != nil {
		t.Fatal(err)
	}
	c, err := jose.ParseClaims(j.UnsafePayload())
	if err != nil {
		t.Fatal(err)
	}
	return c.String("sid")
}

// bcStack is alice's stack with the clients "rp", whose back-channel
// logout URI is rp's, and "other", without one; a deliverer runs.
func bcStack(t *testing.T, rp *relyingParty) (*logoutStack, keyward.User, *outcomes) {
	t.Helper()
	clk := newFakeClock()
	st := newStack(t, stackOptions{now: clk.Now, throttle: issuer.ThrottleConfig{InsecureDisableThrottle: true}})
	alice := st.addUser(t, "alice", "correct horse battery staple")
	grants := []string{issuer.GrantAuthorizationCode, issuer.GrantRefreshToken}
	st.addClient(t, keyward.Client{ID: "rp", Public: true, RedirectURIs: []string{callback}, GrantTypes: grants,
		BackchannelLogoutURI: rp.srv.URL + "/backchannel", BackchannelLogoutSessionRequired: true})
	st.addClient(t, keyward.Client{ID: "other", Public: true, RedirectURIs: []string{callback}, GrantTypes: grants})
	obs := newOutcomes()
	runBackchannel(t, BackchannelConfig{Issuer: st.issuer, Store: st.store, Observer: obs, Poll: 10 * time.Millisecond,
		Logger: slog.New(slog.NewJSONHandler(st.logs, nil))})
	return &logoutStack{stack: st, clk: clk, hc: browser(t, st)}, alice, obs
}

// delivered waits a bounded time for the next outcome, which must be
// "delivered".
func (o *outcomes) delivered(t *testing.T) {
	t.Helper()
	select {
	case got := <-o.each:
		if got != BackchannelDelivered {
			t.Fatalf("outcome %q, want delivered", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery within 10 s")
	}
}

// TestBackchannelLogout checks that a relying party that registered a
// back-channel logout URI receives a logout token it can validate when a
// session in which it got tokens ends: by RP-initiated logout, and by the
// end of the user's access that disabling, deleting or changing the
// password of a user makes ([issuer.EndUserAccess], also from the command
// line in another process, since the outbox is in the store). A client
// without a URI, in the same session, gets nothing.
func TestBackchannelLogout(t *testing.T) {
	t.Parallel()
	rp := newRelyingParty(t, false)
	ls, alice, obs := bcStack(t, rp)
	_, idToken, _ := ls.signIn(t, ls.hc, "alice", "rp")
	ls.signIn(t, ls.hc, "alice", "other") // the same session

	resp, page := logoutRequest(t, ls, ls.hc, http.MethodGet, url.Values{"id_token_hint": {idToken}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "You are signed out.") {
		t.Fatalf("logout: %d %s", resp.StatusCode, page)
	}
	c := validateLogoutToken(t, ls.stack, rp.next(t), "rp")
	if c.Subject != alice.ID || c.String("sid") != sidOf(t, idToken) {
		t.Errorf("logout token sub %q sid %q, want %q %q", c.Subject, c.String("sid"), alice.ID, sidOf(t, idToken))
	}
	obs.delivered(t)
	if ls, err := ls.store.ClaimBackchannelLogouts(t.Context(), time.Now().Add(time.Hour), time.Minute, 10); err != nil || len(ls) != 0 {
		t.Errorf("outbox after the delivery = %+v, %v; want empty (nothing for the client without a URI)", ls, err)
	}

	// Another session, ended with the user's access.
	hc := browser(t, ls.stack)
	_, idToken, _ = ls.signIn(t, hc, "alice", "rp")
	ls.clk.Add(time.Second)
	if err := issuer.EndUserAccess(t.Context(), ls.store, alice.ID, ls.clk.Now()); err != nil {
		t.Fatal(err)
	}
	c = validateLogoutToken(t, ls.stack, rp.next(t), "rp")
	if c.Subject != alice.ID || c.String("sid") != sidOf(t, idToken) {
		t.Errorf("logout token sub %q sid %q, want %q %q", c.Subject, c.String("sid"), alice.ID, sidOf(t, idToken))
	}
	obs.delivered(t)
	if n := len(rp.got); n != 0 {
		t.Errorf("relying party got %d more requests", n)
	}
}

// TestBackchannelSlowRelyingParty checks that a relying party that does not
// answer delays no logout: the logout only queues its token.
func TestBackchannelSlowRelyingParty(t *testing.T) {
	t.Parallel()
	rp := newRelyingParty(t, true)
	ls, _, _ := bcStack(t, rp)
	hc2 := browser(t, ls.stack)
	_, first, _ := ls.signIn(t, ls.hc, "alice", "rp")
	_, second, _ := ls.signIn(t, hc2, "alice", "rp")
	if resp, page := logoutRequest(t, ls, ls.hc, http.MethodGet, url.Values{"id_token_hint": {first}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("first logout: %d %s", resp.StatusCode, page)
	}
	rp.next(t) // held until the test ends
	start := time.Now()
	if resp, page := logoutRequest(t, ls, hc2, http.MethodGet, url.Values{"id_token_hint": {second}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("second logout: %d %s", resp.StatusCode, page)
	}
	if d := time.Since(start); d >= BackchannelTimeout {
		t.Errorf("a logout took %s while a relying party hung", d)
	}
	rp.next(t) // the second token too: deliveries run side by side
}

// roundTripper is an in-process transport.
type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestBackchannelRetries checks the delivery policy under a fake clock:
// network errors, timeouts and 5xx are retried after 10 s and 30 s and
// then given up; a 4xx or a redirect (never followed) gives up at once;
// 200 and 204 deliver. Each failure is logged without the token.
func TestBackchannelRetries(t *testing.T) {
	t.Parallel()
	type answer func(r *http.Request) (*http.Response, error)
	status := func(code int) answer {
		return func(*http.Request) (*http.Response, error) {
			h := http.Header{}
			if code == http.StatusFound {
				h.Set("Location", "https://elsewhere.test/steal")
			}
			return &http.Response{StatusCode: code, Header: h, Body: io.NopCloser(strings.NewReader("body"))}, nil
		}
	}
	tests := []struct {
		name string
		// answers are the relying party's answers, the last repeated.
		answers  []answer
		attempts int
		outcome  string
		failures int
	}{
		{name: "500 retried then given up", answers: []answer{status(500)}, attempts: 3, outcome: BackchannelFailed, failures: 3},
		{name: "network error", answers: []answer{func(*http.Request) (*http.Response, error) { return nil, errors.New("connection refused") }},
			attempts: 3, outcome: BackchannelFailed, failures: 3},
		{name: "timeout", answers: []answer{func(r *http.Request) (*http.Response, error) { <-r.Context().Done(); return nil, r.Context().Err() }},
			attempts: 3, outcome: BackchannelFailed, failures: 3},
		{name: "503 then 200", answers: []answer{status(503), status(200)}, attempts: 2, outcome: BackchannelDelivered, failures: 1},
		{name: "204", answers: []answer{status(204)}, attempts: 1, outcome: BackchannelDelivered},
		{name: "400 not retried", answers: []answer{status(400)}, attempts: 1, outcome: BackchannelFailed, failures: 1},
		{name: "redirect not followed", answers: []answer{status(http.StatusFound)}, attempts: 1, outcome: BackchannelFailed, failures: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				ctx := t.Context()
				store := memory.New(memory.Config{})
				logs := new(syncBuffer)
				logger := slog.New(slog.NewJSONHandler(logs, nil))
				km, err := issuer.NewKeyManager(issuer.KeyManagerConfig{Store: store, Sealer: mustSealer(t), Alg: jose.ES256, JWKSMaxAge: time.Minute})
				if err != nil {
					t.Fatal(err)
				}
				if err := km.Step(ctx); err != nil {
					t.Fatal(err)
				}
				iss, err := issuer.New(issuer.Config{Store: store, Keys: km, Issuer: "https://issuer.test", Password: issuer.PasswordParams{Memory: 64, Time: 1, Threads: 1}})
				if err != nil {
					t.Fatal(err)
				}
				queueLogout(t, store)
				var (
					mu        sync.Mutex
					attempts  int
					elsewhere int
					tokens    []string
				)
				client := NewBackchannelClient()
				client.Transport = roundTripper(func(r *http.Request) (*http.Response, error) {
					if r.URL.Host != "rp.test" {
						mu.Lock()
						elsewhere++
						mu.Unlock()
						return nil, errors.New("unexpected host")
					}
					b, _ := io.ReadAll(r.Body)
					mu.Lock()
					a := tt.answers[min(attempts, len(tt.answers)-1)]
					attempts++
					form, _ := url.ParseQuery(string(b))
					tokens = append(tokens, form.Get("logout_token"))
					mu.Unlock()
					return a(r)
				})
				obs := newOutcomes()
				bc, err := NewBackchannel(BackchannelConfig{Issuer: iss, Store: store, Client: client, Logger: logger, Observer: obs})
				if err != nil {
					t.Fatal(err)
				}
				runCtx, cancel := context.WithCancel(ctx)
				done := make(chan error, 1)
				go func() { done <- bc.Run(runCtx) }()
				count := func() int {
					synctest.Wait()
					mu.Lock()
					defer mu.Unlock()
					return attempts
				}
				// The first attempt at once, the others 10 s and 30 s after
				// the failure before them (a timeout takes 5 s more).
				for n, wait := range []time.Duration{0, 10*time.Second + BackchannelTimeout, 30*time.Second + BackchannelTimeout} {
					time.Sleep(wait + 500*time.Millisecond)
					if got, want := count(), min(n+1, tt.attempts); got != want {
						t.Fatalf("after %d waits: %d attempts, want %d", n, got, want)
					}
				}
				time.Sleep(10 * time.Minute)
				if got := count(); got != tt.attempts {
					t.Errorf("%d attempts in all, want %d", got, tt.attempts)
				}
				cancel()
				if err := <-done; !errors.Is(err, context.Canceled) {
					t.Errorf("Run = %v, want context.Canceled", err)
				}
				if ls, err := store.ClaimBackchannelLogouts(ctx, time.Now().Add(time.Hour), time.Minute, 10); err != nil || len(ls) != 0 {
					t.Errorf("outbox after the outcome = %+v, %v; want empty", ls, err)
				}
				if obs.count(tt.outcome) != 1 || obs.count(BackchannelRetried) != tt.attempts-1 {
					t.Errorf("outcomes = %v, want one %s and %d retried", obs.n, tt.outcome, tt.attempts-1)
				}
				log := logs.String()
				if n := strings.Count(log, `"msg":"backchannel_logout_failed"`); n != tt.failures {
					t.Errorf("%d backchannel_logout_failed lines, want %d:\n%s", n, tt.failures, log)
				}
				if tt.outcome == BackchannelFailed && (!strings.Contains(log, `"client_id":"rp"`) || !strings.Contains(log, `"retry":false`)) {
					t.Errorf("failure lines lack the client or the give-up:\n%s", log)
				}
				for _, tok := range tokens {
					if tok == "" || strings.Contains(log, tok) || strings.Contains(log, tok[strings.LastIndexByte(tok, '.')+1:]) {
						t.Fatalf("the logout token %q is missing or in the log:\n%s", tok, log)
					}
				}
				if elsewhere != 0 {
					t.Errorf("%d requests went elsewhere than the registered URI", elsewhere)
				}
			})
		})
	}
}

// mustSealer returns a sealer under the tests' master key.
func mustSealer(t *testing.T) *issuer.Sealer {
	t.Helper()
	s, err := issuer.NewSealer(masterKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// queueLogout queues, in store, the logout of session "s1" of "alice" for
// the client "rp" at https://rp.test/bc.
func queueLogout(t *testing.T, store keyward.Store) {
	t.Helper()
	ctx, now := t.Context(), time.Now()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(store.CreateClient(ctx, keyward.Client{ID: "rp", BackchannelLogoutURI: "https://rp.test/bc"}))
	must(store.CreateSession(ctx, keyward.Session{ID: "s1", CookieHash: []byte("c"), UserID: "alice", ExpiresAt: now.Add(time.Hour)}))
	must(store.AddSessionClient(ctx, "s1", "rp"))
	must(store.RevokeSession(ctx, "s1", now))
	if q, _, err := store.QueueBackchannelLogouts(ctx, "", "s1", now, 10); err != nil || q != 1 {
		t.Fatalf("QueueBackchannelLogouts = %d, %v", q, err)
	}
}

// TestBackchannelDiscovery checks that discovery announces back-channel
// logout with sid.
func TestBackchannelDiscovery(t *testing.T) {
	t.Parallel()
	st := newStack(t, stackOptions{})
	resp, b := st.do(t, http.MethodGet, "/.well-known/openid-configuration", "", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("discovery: %d", resp.StatusCode)
	}
	var m struct {
		Logout  bool `json:"backchannel_logout_supported"`
		Session bool `json:"backchannel_logout_session_supported"`
	}
	if err := json.Unmarshal(b, &m, json.RejectUnknownMembers(false)); err != nil {
		t.Fatal(err)
	}
	if !m.Logout || !m.Session {
		t.Errorf("discovery: %s", b)
	}
}
