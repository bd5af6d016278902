package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/issuer"
	"github.com/keyward/keyward/storage/memory"
)

// passkeyStack is an issuer with passkeys named http://localhost:PORT
// (a relying party ID browsers accept) and served on 127.0.0.1, on a fake
// clock, with alice.
type passkeyStack struct {
	url   string
	store keyward.Store
	clk   *fakeClock
	logs  *syncBuffer
	alice keyward.User
	// dial reaches the server whatever the host name.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

func newPasskeyStack(t *testing.T) *passkeyStack {
	t.Helper()
	return newPasskeyStackTOTP(t, true)
}

// newPasskeyStackTOTP is newPasskeyStack with TOTP available (a Sealer
// for its secrets) or not.
func newPasskeyStackTOTP(t *testing.T, withTOTP bool) *passkeyStack {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock()
	store := memory.New(memory.Config{Now: clk.Now})
	logs := new(syncBuffer)
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	sealer, err := issuer.NewSealer(masterKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	km, err := issuer.NewKeyManager(issuer.KeyManagerConfig{Store: store, Sealer: sealer, Alg: "ES256", JWKSMaxAge: time.Minute, Logger: logger, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := km.Step(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := &passkeyStack{url: fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port), store: store, clk: clk, logs: logs}
	totpSealer := sealer
	if !withTOTP {
		totpSealer = nil
	}
	iss, err := issuer.New(issuer.Config{Store: store, Keys: km, Issuer: st.url, Logger: logger, Now: clk.Now, Sealer: totpSealer,
		Password: issuer.PasswordParams{Memory: 64, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	pk, err := issuer.NewPasskeys(iss, issuer.PasskeyConfig{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Issuer: iss, Store: store, Logger: logger, Passkeys: pk, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	d := &net.Dialer{Timeout: 5 * time.Second}
	st.dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, ln.Addr().String())
	}
	if st.alice, err = issuer.NewUser(t.Context(), store, "alice", alicePassword, nil, nil, issuer.PasswordParams{Memory: 64, Time: 1, Threads: 1}, nil); err != nil {
		t.Fatal(err)
	}
	return st
}

// client is a browser of the stack: it keeps cookies and follows no
// redirect.
func (st *passkeyStack) client(t *testing.T) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: st.dial},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// signIn signs hc in as alice on the account page and returns the CSRF
// token of its pages.
func (st *passkeyStack) signIn(t *testing.T, hc *http.Client) string {
	t.Helper()
	_, page := get(t, hc, st.url+"/account")
	f := loginForm(t, page)
	f.Set("username", "alice")
	f.Set("password", alicePassword)
	if resp, body := do(t, hc, http.MethodPost, st.url+"/account/login", f); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("account sign-in: %d %s", resp.StatusCode, body)
	}
	return f.Get("csrf_token")
}

// postJSON posts a JSON body with the CSRF header.
func (st *passkeyStack) postJSON(t *testing.T, hc *http.Client, path, csrf, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, st.url+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if csrf != "" {
		req.Header.Set(csrfHeader, csrf)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestPasskeysOff(t *testing.T) {
	t.Parallel()
	st := newStack(t, stackOptions{})
	st.addClient(t, keyward.Client{ID: "spa", Public: true, RedirectURIs: []string{callback}, GrantTypes: []string{issuer.GrantAuthorizationCode}})
	for _, path := range []string{passkeyScriptPath, accountPasskeys} {
		if resp, _ := get(t, browser(t, st), st.srv.URL+path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s without passkeys: %d, want 404", path, resp.StatusCode)
		}
	}
	q := url.Values{"response_type": {"code"}, "client_id": {"spa"}, "redirect_uri": {callback}, "code_challenge": {challenge("v")}, "code_challenge_method": {"S256"}}
	resp, page := get(t, browser(t, st), st.srv.URL+"/authorize?"+q.Encode())
	if strings.Contains(page, "passkey-signin") || strings.Contains(page, "webauthn") || strings.Contains(page, "<script") ||
		strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Errorf("the login page without passkeys offers them: CSP %q\n%s", resp.Header.Get("Content-Security-Policy"), page)
	}
}

func TestPasskeyPagesAndScript(t *testing.T) {
	t.Parallel()
	st := newPasskeyStack(t)
	hc := st.client(t)
	resp, script := get(t, hc, st.url+passkeyScriptPath)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" ||
		resp.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(script, "navigator.credentials") {
		t.Errorf("GET /passkeys.js: %d %v", resp.StatusCode, resp.Header)
	}
	resp, page := get(t, hc, st.url+"/account")
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'; connect-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("login page CSP %q", csp)
	}
	for _, want := range []string{`autocomplete="username webauthn"`, `id="passkey-signin"`, `<script src="/passkeys.js" defer></script>`} {
		if !strings.Contains(page, want) {
			t.Errorf("the account sign-in page lacks %s", want)
		}
	}
	if strings.Contains(page, "<script>") {
		t.Error("a page carries an inline script")
	}
}

func TestPasskeyEndpointsRefusals(t *testing.T) {
	t.Parallel()
	st := newPasskeyStack(t)
	hc := st.client(t)
	_, page := get(t, hc, st.url+"/account")
	csrf := loginForm(t, page).Get("csrf_token")

	// Without the page's CSRF token, nothing begins.
	if resp, body := st.postJSON(t, hc, passkeyLoginBegin, "", "{}"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "invalid_request") {
		t.Errorf("begin without CSRF: %d %s", resp.StatusCode, body)
	}
	if resp, body := st.postJSON(t, hc, passkeyLoginBegin, strings.Repeat("x", 43), "{}"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("begin with another CSRF token: %d %s", resp.StatusCode, body)
	}
	// With it, the options of a discoverable sign-in, and the ceremony's
	// cookie.
	resp, body := st.postJSON(t, hc, passkeyLoginBegin, csrf, "{}")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("begin: %d %s", resp.StatusCode, body)
	}
	var opts struct {
		PublicKey map[string]any `json:"publicKey"`
	}
	if err := json.Unmarshal([]byte(body), &opts); err != nil {
		t.Fatal(err)
	}
	if opts.PublicKey["rpId"] != "localhost" || opts.PublicKey["challenge"] == nil || opts.PublicKey["allowCredentials"] != nil {
		t.Errorf("sign-in options %v", opts.PublicKey)
	}
	if c := resp.Header.Get("Set-Cookie"); !strings.HasPrefix(c, passkeyCookie+"=") || !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Strict") {
		t.Errorf("ceremony cookie %q", c)
	}
	// An answer that is not one is refused, and consumes the ceremony.
	if resp, body := st.postJSON(t, hc, passkeyLoginFinish, csrf, `{"id":"x"}`); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "invalid_grant") {
		t.Errorf("finish with garbage: %d %s", resp.StatusCode, body)
	}
	// Registering and the second factor need a session.
	for _, path := range []string{passkeyRegBegin, passkeyFactorBegin} {
		if resp, body := st.postJSON(t, hc, path, csrf, "{}"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "login_required") {
			t.Errorf("%s without a session: %d %s", path, resp.StatusCode, body)
		}
	}
	if resp, body := st.postJSON(t, hc, passkeyRegFinish, csrf, `{"name":"x","name":"y","credential":{}}`); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("register/finish with a duplicate member: %d %s", resp.StatusCode, body)
	}
	// A form is not JSON.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, st.url+passkeyLoginBegin, strings.NewReader("a=b"))
	req.Header.Set("Content-Type", mediaForm)
	req.Header.Set(csrfHeader, csrf)
	if resp, err := hc.Do(req); err != nil || resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("begin with a form: %v %v", resp, err)
	}
	if resp, _ := get(t, hc, st.url+passkeyLoginBegin); resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET %s: %d, Allow %q", passkeyLoginBegin, resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestPasskeyRegistrationNeedsACompleteSession(t *testing.T) {
	t.Parallel()
	st := newPasskeyStack(t)
	hc := st.client(t)
	csrf := st.signIn(t, hc)
	resp, body := st.postJSON(t, hc, passkeyRegBegin, csrf, "{}")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"rp":{"name":"keyward","id":"localhost"}`) || !strings.Contains(body, `"residentKey":"required"`) {
		t.Fatalf("register/begin: %d %s", resp.StatusCode, body)
	}

	// Once alice has a passkey, a password session owes the second
	// factor: it may neither register another passkey nor see the page.
	if err := st.store.CreatePasskey(t.Context(), keyward.Passkey{ID: []byte("cred-1"), UserID: st.alice.ID, Name: "laptop", PublicKey: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	hc2 := st.client(t)
	csrf2 := st.signIn(t, hc2)
	if resp, body := st.postJSON(t, hc2, passkeyRegBegin, csrf2, "{}"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "login_required") {
		t.Errorf("register/begin in a session owing its second factor: %d %s", resp.StatusCode, body)
	}
	_, page := get(t, hc2, st.url+accountPasskeys)
	if !strings.Contains(page, "Two-step sign-in") || !strings.Contains(page, `id="passkey-factor"`) {
		t.Errorf("the passkey page of a session owing its second factor:\n%s", page)
	}
	// The second factor's ceremony lists alice's passkey.
	resp, body = st.postJSON(t, hc2, passkeyFactorBegin, csrf2, "{}")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, base64.RawURLEncoding.EncodeToString([]byte("cred-1"))) {
		t.Errorf("factor/begin: %d %s", resp.StatusCode, body)
	}
}

func TestPasskeyRenameAndRemovePages(t *testing.T) {
	t.Parallel()
	st := newPasskeyStack(t)
	hc := st.client(t)
	csrf := st.signIn(t, hc)
	_, page := get(t, hc, st.url+accountPasskeys)
	if !strings.Contains(page, "You have no passkey yet.") || !strings.Contains(page, `id="passkey-register-button"`) {
		t.Fatalf("empty passkey page:\n%s", page)
	}
	id := []byte("cred-1")
	if err := st.store.CreatePasskey(t.Context(), keyward.Passkey{ID: id, UserID: st.alice.ID, Name: "laptop", PublicKey: []byte{1}, BackupEligible: true}); err != nil {
		t.Fatal(err)
	}
	// The session predates the passkey: it joins the session's factors
	// only through a registration, so this one is given its factor.
	hc = st.client(t)
	csrf = st.signIn(t, hc)
	sessCookie := ""
	u, _ := url.Parse(st.url)
	for _, c := range hc.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			sessCookie = c.Value
		}
	}
	if sessCookie == "" {
		t.Fatal("no session cookie")
	}
	sum := sha256.Sum256([]byte(sessCookie))
	sess, err := st.store.GetSessionByCookie(t.Context(), sum[:])
	if err != nil {
		t.Fatal(err)
	}
	if err := st.store.UpdateSession(t.Context(), sess.ID, func(s *keyward.Session) error {
		s.AMR, s.ACR = issuer.AMRFor([]string{"pwd", "swk"}), issuer.ACRPhishingResistant
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	_, page = get(t, hc, st.url+accountPasskeys)
	if !strings.Contains(page, "laptop") || !strings.Contains(page, "Synced") {
		t.Fatalf("passkey page:\n%s", page)
	}
	form := func(set map[string]string) url.Values {
		f := url.Values{"csrf_token": {csrf}, "id": {base64.RawURLEncoding.EncodeToString(id)}}
		for k, v := range set {
			f.Set(k, v)
		}
		return f
	}
	if resp, body := do(t, hc, http.MethodPost, st.url+passkeyRename, form(map[string]string{"name": "work laptop"})); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("rename: %d %s", resp.StatusCode, body)
	}
	if pk, _ := st.store.GetPasskey(t.Context(), id); pk.Name != "work laptop" {
		t.Errorf("after rename: %q", pk.Name)
	}
	if resp, _ := do(t, hc, http.MethodPost, st.url+passkeyRename, form(map[string]string{"name": strings.Repeat("x", 65)})); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("rename to 65 characters: %d", resp.StatusCode)
	}
	if resp, _ := do(t, hc, http.MethodPost, st.url+passkeyRename, form(map[string]string{"id": "bm9uZQ", "name": "x"})); resp.StatusCode != http.StatusNotFound {
		t.Errorf("rename of an unknown passkey: %d", resp.StatusCode)
	}
	if resp, _ := do(t, hc, http.MethodPost, st.url+passkeyRemove, form(map[string]string{"csrf_token": "forged"})); resp.StatusCode != http.StatusForbidden {
		t.Errorf("remove without the CSRF token: %d", resp.StatusCode)
	}
	// Removal needs a recent sign-in.
	st.clk.Add(issuer.PasskeyRemovalMaxAge + time.Minute)
	if resp, body := do(t, hc, http.MethodPost, st.url+passkeyRemove, form(nil)); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "sign in again") {
		t.Errorf("remove in an old session: %d %s", resp.StatusCode, body)
	}
	if _, err := st.store.GetPasskey(t.Context(), id); err != nil {
		t.Fatalf("the passkey went in an old session: %v", err)
	}
	if err := st.store.UpdateSession(t.Context(), sess.ID, func(s *keyward.Session) error { s.AuthTime = st.clk.Now(); return nil }); err != nil {
		t.Fatal(err)
	}
	if resp, body := do(t, hc, http.MethodPost, st.url+passkeyRemove, form(nil)); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("remove: %d %s", resp.StatusCode, body)
	}
	if _, err := st.store.GetPasskey(t.Context(), id); err == nil {
		t.Error("the passkey is still there")
	}
}
