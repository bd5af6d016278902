package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/go-json-experiment/json"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/issuer"
	"github.com/keyward/keyward/server"
	"github.com/keyward/keyward/storage/memory"
)

// lockedBuffer is a log sink the issuer and the test share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// passkeyStack is an issuer with passkeys on the memory store, listening on
// 127.0.0.1 and named http://HOST:PORT, HOST being localhost or a name
// under .localhost, which browsers treat as secure contexts.
type passkeyStack struct {
	url   string
	store keyward.Store
	log   *lockedBuffer
	hc    *http.Client
}

func newPasskeyStack(t *testing.T, host string) *passkeyStack {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuerURL := fmt.Sprintf("http://%s:%d", host, ln.Addr().(*net.TCPAddr).Port)
	store := memory.New(memory.Config{})
	logs := new(lockedBuffer)
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	sealer, err := issuer.NewSealer(bytes.Repeat([]byte{7}, issuer.MasterKeySize), nil)
	if err != nil {
		t.Fatal(err)
	}
	km, err := issuer.NewKeyManager(issuer.KeyManagerConfig{Store: store, Sealer: sealer, Alg: "ES256", JWKSMaxAge: 5 * time.Minute, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := km.Step(t.Context()); err != nil {
		t.Fatal(err)
	}
	iss, err := issuer.New(issuer.Config{Store: store, Keys: km, Issuer: issuerURL, Logger: logger,
		Password: issuer.PasswordParams{Memory: 64, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	pk, err := issuer.NewPasskeys(iss, issuer.PasskeyConfig{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := server.New(server.Config{Issuer: iss, Store: store, Logger: logger, Passkeys: pk})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	// A Go client for the direct requests, which reaches HOST on
	// 127.0.0.1 like the browser.
	dial := &net.Dialer{Timeout: 5 * time.Second}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dial.DialContext(ctx, network, ln.Addr().String())
		},
	}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &passkeyStack{url: issuerURL, store: store, log: logs, hc: hc}
}

// passkeyCallback is a client's redirect URI that records what it got.
type passkeyCallback struct {
	url  string
	mu   sync.Mutex
	last url.Values
}

func newPasskeyCallback(t *testing.T) *passkeyCallback {
	t.Helper()
	cb := &passkeyCallback{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		cb.mu.Lock()
		cb.last = r.URL.Query()
		cb.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>callback</title><p id="done">signed in</p>`)
	}))
	t.Cleanup(srv.Close)
	cb.url = srv.URL + "/callback"
	return cb
}

func (cb *passkeyCallback) params() url.Values {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	return cb.last
}

// saveShot writes a screenshot to $KEYWARD_ARTIFACTS, or the test's
// temporary directory.
func saveShot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("browser: screenshot %s: %v", name, err)
	}
	dir := os.Getenv("KEYWARD_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// getAssertionJS begins a sign-in at the page's issuer and returns the
// authenticator's answer as JSON without sending it, with the options
// given (rpId overridden when set), for the tests that send it themselves.
const getAssertionJS = `(async (challenge, rpId) => {
  const enc = (b) => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const dec = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0)).buffer;
  const c = await navigator.credentials.get({ publicKey: { challenge: dec(challenge), rpId, userVerification: "preferred" } });
  return JSON.stringify({ id: c.id, rawId: enc(c.rawId), type: c.type, response: {
    clientDataJSON: enc(c.response.clientDataJSON), authenticatorData: enc(c.response.authenticatorData),
    signature: enc(c.response.signature), userHandle: enc(c.response.userHandle) }, clientExtensionResults: {} });
})`

// waitVisible waits for the element with the ID on a page that the script
// of the previous one navigated to (see waitAfterNavigation).
func waitVisible(t *testing.T, ctx context.Context, id string, logs ...fmt.Stringer) {
	t.Helper()
	waitAfterNavigation(t, ctx, "#"+id, chromedp.WaitVisible(chromedp.ID(id)), logs...)
}

// waitAfterNavigation runs a wait on a page that a click or a script is
// replacing: a query that started on the old page fails with a stale
// node, and is tried again, a bounded number of times.
func waitAfterNavigation(t *testing.T, ctx context.Context, what string, wait chromedp.Action[chromedp.Void], logs ...fmt.Stringer) {
	t.Helper()
	var err error
	for range 5 {
		if err = chromedp.Do(ctx, wait); err == nil || !strings.Contains(err.Error(), "-32000") {
			break
		}
	}
	if err != nil {
		t.Fatalf("browser: wait for %s: %v\nlog: %v", what, err, logs)
	}
}

// virtualCredential is a credential of a CDP virtual authenticator
// (WebAuthn.Credential) without the members of extensions.
type virtualCredential struct {
	CredentialID         []byte  `json:"credentialId"`
	IsResidentCredential bool    `json:"isResidentCredential"`
	RpID                 string  `json:"rpId"`
	PrivateKey           []byte  `json:"privateKey"`
	UserHandle           []byte  `json:"userHandle,omitempty"`
	SignCount            float64 `json:"signCount"`
	UserName             string  `json:"userName,omitempty"`
	UserDisplayName      string  `json:"userDisplayName,omitempty"`
}

// addCredentialParams are the parameters of WebAuthn.addCredential.
type addCredentialParams struct {
	AuthenticatorID webauthn.AuthenticatorID `json:"authenticatorId"`
	Credential      virtualCredential        `json:"credential"`
}

// signOut signs the browser out of st.
func signOut(t *testing.T, ctx context.Context, st *passkeyStack) {
	t.Helper()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(st.url+"/logout"),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
	); err != nil {
		t.Fatalf("browser: sign out: %v", err)
	}
	waitAfterNavigation(t, ctx, "the signed-out page", chromedp.WaitNotPresent(chromedp.CSS("form")))
}

// directBegin begins a passkey sign-in at st with a Go client, as the
// login page's script does, and returns the challenge, the ceremony cookie
// and the CSRF token with its cookie.
func directBegin(t *testing.T, st *passkeyStack) (challenge string, cookies []*http.Cookie, csrf string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := *st.hc
	hc.Jar = jar
	u, _ := url.Parse(st.url)
	csrf = strings.Repeat("c", 43) // the length of the server's tokens
	jar.SetCookies(u, []*http.Cookie{{Name: "keyward_csrf", Value: csrf}})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, st.url+"/passkeys/login/begin", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("begin: %d %s", resp.StatusCode, b)
	}
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(b, &o, json.RejectUnknownMembers(false)); err != nil {
		t.Fatalf("begin: %v: %s", err, b)
	}
	return o.PublicKey.Challenge, jar.Cookies(u), csrf
}

// directFinish sends an assertion to st's finish endpoint with the
// cookies, as a replaying attacker would, and returns the status and body.
func directFinish(t *testing.T, st *passkeyStack, cookies []*http.Cookie, csrf, assertion string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, st.url+"/passkeys/login/finish", strings.NewReader(assertion))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := st.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestBrowserPasskeys runs the passkey ceremonies in headless Chromium
// against a real issuer, with a CDP virtual authenticator (CTAP2, internal
// transport, resident keys, user verification): a user signs in with a
// password, registers a passkey on /account/passkeys, signs out, signs in
// with the passkey alone and completes an authorization-code flow. Then
// a password with the passkey as the second factor; the ID tokens' amr and
// acr. Then the refusals: an assertion replayed with its ceremony, a
// signature counter set back, and a credential of another relying party.
// Screenshots of the login page, the account page, the passkey page
// before and after the enrolment and the second-factor form go to
// $KEYWARD_ARTIFACTS.
func TestBrowserPasskeys(t *testing.T) {
	bin := chromiumPath()
	if bin == "" && os.Getenv("KEYWARD_REQUIRE_CHROMIUM") == "1" {
		t.Fatal("KEYWARD_REQUIRE_CHROMIUM=1 but no chromium, chromium-browser or google-chrome binary in PATH: install Debian's chromium")
	}
	if bin == "" {
		t.Skip("no chromium, chromium-browser or google-chrome binary in PATH: install Debian's chromium to run the browser test")
	}
	st := newPasskeyStack(t, "localhost")
	alice, err := issuer.NewUser(t.Context(), st.store, "alice", "correct horse battery staple", nil,
		map[string]any{"email": "alice@example.com"}, issuer.PasswordParams{Memory: 64, Time: 1, Threads: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cb := newPasskeyCallback(t)
	if err := st.store.CreateClient(t.Context(), keyward.Client{ID: "spa", Name: "Passkey test app", Public: true,
		RedirectURIs: []string{cb.url}, GrantTypes: []string{issuer.GrantAuthorizationCode, issuer.GrantRefreshToken}}); err != nil {
		t.Fatal(err)
	}
	verifier := "passkey-browser-test-verifier-0123456789-abcdefghijklmnop"
	authorize := func(state string, extra ...string) string {
		q := url.Values{"response_type": {"code"}, "client_id": {"spa"}, "redirect_uri": {cb.url}, "scope": {"openid"},
			"state": {state}, "nonce": {"n-" + state}, "code_challenge": {challenge(verifier)}, "code_challenge_method": {"S256"}}
		for i := 0; i+1 < len(extra); i += 2 {
			q.Set(extra[i], extra[i+1])
		}
		return st.url + "/authorize?" + q.Encode()
	}

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("host-resolver-rules", "MAP *.localhost 127.0.0.1, MAP localhost 127.0.0.1"),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(412, 915),
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()

	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("browser: start: %v", err)
	}
	if _, err := chromedp.Call(bctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("browser: WebAuthn.enable: %v", err)
	}
	added, err := chromedp.Call(bctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
			Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true,
			IsUserVerified: true, AutomaticPresenceSimulation: true,
		},
	})
	if err != nil {
		t.Fatalf("browser: WebAuthn.addVirtualAuthenticator: %v", err)
	}
	authID := added.AuthenticatorID

	// 1. A password sign-in, then a passkey registered on the passkey page.
	if err := chromedp.Do(bctx,
		chromedp.Navigate(authorize("pwd")),
		chromedp.WaitVisible(chromedp.ID("passkey-signin")),
	); err != nil {
		t.Fatalf("browser: open the login page: %v", err)
	}
	if ac, err := chromedp.Run(bctx, chromedp.AttributeValue(chromedp.ID("username"), "autocomplete")); err != nil || ac.Value != "username webauthn" {
		t.Errorf("username field autocomplete = %q (%v), want \"username webauthn\" for conditional mediation", ac.Value, err)
	}
	saveShot(t, bctx, "passkey-login.png")
	if err := chromedp.Do(bctx,
		chromedp.SendKeys(chromedp.ID("username"), "alice"),
		chromedp.SendKeys(chromedp.ID("password"), "correct horse battery staple"),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("done")),
	); err != nil {
		t.Fatalf("browser: password sign-in: %v", err)
	}
	if err := chromedp.Do(bctx,
		chromedp.Navigate(st.url+"/account/passkeys"),
		chromedp.WaitVisible(chromedp.ID("passkey-register-button")),
	); err != nil {
		t.Fatalf("browser: open the passkey page: %v", err)
	}
	saveShot(t, bctx, "passkey-enrolment.png")
	if err := chromedp.Do(bctx,
		chromedp.SendKeys(chromedp.ID("passkey-name"), "virtual key"),
		chromedp.Click(chromedp.ID("passkey-register-button")),
	); err != nil {
		t.Fatalf("browser: register a passkey: %v\n%s", err, st.log)
	}
	waitVisible(t, bctx, "notice", st.log)
	saveShot(t, bctx, "passkey-registered.png")
	if err := chromedp.Do(bctx, chromedp.Navigate(st.url+"/account"), chromedp.WaitVisible(chromedp.CSS(`a[href="/account/passkeys"]`))); err != nil {
		t.Fatalf("browser: open the account page: %v", err)
	}
	saveShot(t, bctx, "passkey-account.png")
	pks, err := st.store.ListPasskeys(t.Context(), alice.ID)
	if err != nil || len(pks) != 1 || pks[0].Name != "virtual key" || !pks[0].UserVerified || !bytes.Equal([]byte(alice.ID), []byte(pks[0].UserID)) {
		t.Fatalf("after registration alice has %+v (%v)", pks, err)
	}

	// 2. Signed out, then signed in with the passkey alone: by the
	// username field's autofill (conditional mediation), which the
	// virtual authenticator answers at once with its one credential.
	signOut(t, bctx, st)
	if err := chromedp.Do(bctx, chromedp.Navigate(authorize("passkey"))); err != nil {
		t.Fatalf("browser: open the login page: %v", err)
	}
	waitVisible(t, bctx, "done")
	got := cb.params()
	if got.Get("state") != "passkey" || got.Get("code") == "" {
		t.Fatalf("callback after the passkey sign-in: %v", got)
	}
	claims := exchangeCode(t, st, got.Get("code"), cb.url, verifier)
	if claims["sub"] != alice.ID {
		t.Errorf("ID token sub %v, want %s", claims["sub"], alice.ID)
	}
	// A passkey with user verification: possession, presence and the
	// PIN or biometric that unlocked it; two factors, phishing-resistant.
	checkAMR(t, claims, []string{"hwk", "user", "pin", "mfa"}, issuer.ACRPhishingResistant)
	if !strings.Contains(st.log.String(), `"method":"passkey"`) {
		t.Errorf("no passkey login line:\n%s", st.log)
	}

	// Then by the button, in pages where the browser offers no
	// conditional mediation.
	if _, err := chromedp.Call(bctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: "PublicKeyCredential.isConditionalMediationAvailable = async () => false;",
	}); err != nil {
		t.Fatal(err)
	}
	signOut(t, bctx, st)
	if err := chromedp.Do(bctx,
		chromedp.Navigate(authorize("button")),
		chromedp.WaitVisible(chromedp.ID("passkey-signin")),
		chromedp.Click(chromedp.ID("passkey-signin")),
	); err != nil {
		t.Fatalf("browser: sign in with the passkey button: %v\n%s", err, st.log)
	}
	waitVisible(t, bctx, "done")
	if got := cb.params(); got.Get("state") != "button" || got.Get("code") == "" {
		t.Fatalf("callback after the passkey button: %v", got)
	}

	// max_age=0 asks the signed-in browser for a new sign-in: the
	// passkey button gives it, and the request goes on to a code rather
	// than back to the login page.
	if err := chromedp.Do(bctx,
		chromedp.Navigate(authorize("maxage", "max_age", "0")),
		chromedp.WaitVisible(chromedp.ID("passkey-signin")),
		chromedp.Click(chromedp.ID("passkey-signin")),
	); err != nil {
		t.Fatalf("browser: sign in with the passkey button under max_age=0: %v\n%s", err, st.log)
	}
	waitVisible(t, bctx, "done")
	if got := cb.params(); got.Get("state") != "maxage" || got.Get("code") == "" {
		t.Fatalf("callback after the passkey sign-in under max_age=0: %v", got)
	}

	// A password, then the passkey as the second factor, which the
	// user now owes: the second-factor form offers it.
	signOut(t, bctx, st)
	if err := chromedp.Do(bctx,
		chromedp.Navigate(authorize("second")),
		chromedp.WaitVisible(chromedp.ID("password")),
		chromedp.SendKeys(chromedp.ID("username"), "alice"),
		chromedp.SendKeys(chromedp.ID("password"), "correct horse battery staple"),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
	); err != nil {
		t.Fatalf("browser: password before the second factor: %v", err)
	}
	waitVisible(t, bctx, "passkey-factor")
	saveShot(t, bctx, "passkey-second-factor.png")
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.ID("passkey-factor"))); err != nil {
		t.Fatalf("browser: use the passkey as the second factor: %v", err)
	}
	waitVisible(t, bctx, "done")
	if got := cb.params(); got.Get("state") != "second" || got.Get("code") == "" {
		t.Fatalf("callback after the second factor: %v", got)
	} else {
		checkAMR(t, exchangeCode(t, st, got.Get("code"), cb.url, verifier), []string{"pwd", "hwk", "mfa"}, issuer.ACRPhishingResistant)
	}

	// 3. A replayed assertion: captured in the page, sent once and then
	// again with its ceremony's cookie, by direct requests.
	ch, cookies, csrf := directBegin(t, st)
	if err := chromedp.Do(bctx, chromedp.Navigate(st.url+"/account/passkeys")); err != nil {
		t.Fatalf("browser: open a page of the issuer: %v", err)
	}
	assertion, err := chromedp.Run(bctx, chromedp.Evaluate[string](getAssertionJS+`("`+ch+`", "localhost")`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("browser: capture an assertion: %v", err)
	}
	if code, b := directFinish(t, st, cookies, csrf, assertion); code != http.StatusOK {
		t.Fatalf("first use of the captured assertion: %d %s\n%s", code, b, st.log)
	}
	if code, b := directFinish(t, st, cookies, csrf, assertion); code != http.StatusBadRequest || !strings.Contains(b, "invalid_grant") {
		t.Errorf("replayed assertion: %d %s, want 400 invalid_grant", code, b)
	}
	_, fresh, csrf2 := directBegin(t, st)
	if code, b := directFinish(t, st, fresh, csrf2, assertion); code != http.StatusBadRequest {
		t.Errorf("replayed assertion with a new ceremony: %d %s, want 400", code, b)
	}

	// 4. A signature counter set back, as a clone of the authenticator
	// made earlier would have it.
	creds, err := chromedp.Call(bctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: authID})
	if err != nil || len(creds.Credentials) != 1 {
		t.Fatalf("browser: the virtual authenticator holds %v (%v), want one credential", creds, err)
	}
	c := *creds.Credentials[0]
	if c.SignCount < 2 {
		t.Fatalf("sign count %v, want at least 2 after two sign-ins", c.SignCount)
	}
	if _, err := chromedp.Call(bctx, webauthn.RemoveCredential, webauthn.RemoveCredentialParams{AuthenticatorID: authID, CredentialID: c.CredentialID}); err != nil {
		t.Fatal(err)
	}
	// WebAuthn.addCredential with the same credential and a counter of
	// zero. The command is sent with the members this authenticator
	// knows: cdproto's Credential always carries a CMTG flag, which an
	// authenticator without that extension refuses.
	addCredential := cdp.Command[addCredentialParams, cdp.Empty]{Method: webauthn.CommandAddCredential}
	if _, err := chromedp.Call(bctx, addCredential, addCredentialParams{AuthenticatorID: authID, Credential: virtualCredential{
		CredentialID: c.CredentialID, IsResidentCredential: c.IsResidentCredential, RpID: c.RpID, PrivateKey: c.PrivateKey,
		UserHandle: c.UserHandle, SignCount: 0, UserName: c.UserName, UserDisplayName: c.UserDisplayName,
	}}); err != nil {
		t.Fatalf("browser: set the sign count back: %v", err)
	}
	if err := chromedp.Do(bctx,
		chromedp.Navigate(authorize("clone", "prompt", "login")),
		chromedp.WaitVisible(chromedp.ID("passkey-signin")),
		chromedp.Click(chromedp.ID("passkey-signin")),
		chromedp.WaitVisible(chromedp.ID("passkey-error")),
	); err != nil {
		t.Fatalf("browser: sign in with a cloned counter: %v\n%s", err, st.log)
	}
	message, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID("passkey-error")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(message, "passkey sign-in failed") || !strings.Contains(st.log.String(), `"msg":"passkey_clone_suspected"`) {
		t.Errorf("cloned counter: page says %q; log:\n%s", message, st.log)
	}
	if got := cb.params(); got.Get("state") == "clone" {
		t.Error("the cloned counter reached the client")
	}

	// 5. A credential of another relying party: registered at a second
	// issuer (other.localhost) by the same user, known to the first one
	// too, and used at the first one, which refuses it.
	other := newPasskeyStack(t, "other.localhost")
	alice2 := alice
	alice2.CreatedAt, alice2.UpdatedAt = time.Time{}, time.Time{}
	if err := other.store.CreateUser(t.Context(), alice2); err != nil {
		t.Fatal(err)
	}
	cb2 := newPasskeyCallback(t)
	if err := other.store.CreateClient(t.Context(), keyward.Client{ID: "spa", Public: true, RedirectURIs: []string{cb2.url},
		GrantTypes: []string{issuer.GrantAuthorizationCode}}); err != nil {
		t.Fatal(err)
	}
	q := url.Values{"response_type": {"code"}, "client_id": {"spa"}, "redirect_uri": {cb2.url}, "state": {"o"},
		"code_challenge": {challenge(verifier)}, "code_challenge_method": {"S256"}}
	if err := chromedp.Do(bctx,
		chromedp.Navigate(other.url+"/authorize?"+q.Encode()),
		chromedp.WaitVisible(chromedp.ID("password")),
		chromedp.SendKeys(chromedp.ID("username"), "alice"),
		chromedp.SendKeys(chromedp.ID("password"), "correct horse battery staple"),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("done")),
		chromedp.Navigate(other.url+"/account/passkeys"),
		chromedp.WaitVisible(chromedp.ID("passkey-register-button")),
		chromedp.Click(chromedp.ID("passkey-register-button")),
	); err != nil {
		t.Fatalf("browser: register at the second issuer: %v\n%s", err, other.log)
	}
	waitVisible(t, bctx, "notice")
	otherKeys, err := other.store.ListPasskeys(t.Context(), alice.ID)
	if err != nil || len(otherKeys) != 1 {
		t.Fatalf("the second issuer holds %v (%v)", otherKeys, err)
	}
	foreign := otherKeys[0]
	foreign.CreatedAt, foreign.Name = time.Time{}, "foreign"
	if err := st.store.CreatePasskey(t.Context(), foreign); err != nil {
		t.Fatal(err)
	}
	ch, cookies, csrf = directBegin(t, st)
	if assertion, err = chromedp.Run(bctx, chromedp.Evaluate[string](getAssertionJS+`("`+ch+`", "other.localhost")`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("browser: assertion for the second issuer: %v", err)
	}
	var sent struct {
		RawID string `json:"rawId"`
	}
	if err := json.Unmarshal([]byte(assertion), &sent, json.RejectUnknownMembers(false)); err != nil {
		t.Fatal(err)
	}
	if id, _ := base64.RawURLEncoding.DecodeString(sent.RawID); !bytes.Equal(id, foreign.ID) {
		t.Fatalf("the browser answered with credential %x, want the second issuer's %x", id, foreign.ID)
	}
	if code, b := directFinish(t, st, cookies, csrf, assertion); code != http.StatusBadRequest || !strings.Contains(b, "invalid_grant") {
		t.Errorf("credential of another relying party: %d %s, want 400 invalid_grant", code, b)
	}
	if !strings.Contains(st.log.String(), `"reason":"bad_assertion"`) {
		t.Errorf("no bad_assertion refusal logged:\n%s", st.log)
	}
}

// exchangeCode redeems a code of the public client "spa" at st and
// returns the claims of the ID token.
func exchangeCode(t *testing.T, st *passkeyStack, code, redirect, verifier string) map[string]any {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect},
		"client_id": {"spa"}, "code_verifier": {verifier}}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, st.url+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := st.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token: %d %s", resp.StatusCode, body)
	}
	return idTokenClaims(t, decodeToken(t, resp, body).IDToken)
}

// checkAMR checks the amr and acr claims of an ID token.
func checkAMR(t *testing.T, claims map[string]any, amr []string, acr string) {
	t.Helper()
	var got []string
	list, _ := claims["amr"].([]any)
	for _, v := range list {
		s, _ := v.(string)
		got = append(got, s)
	}
	if strings.Join(got, " ") != strings.Join(amr, " ") || claims["acr"] != acr {
		t.Errorf("ID token amr %v acr %v, want %v and %s", claims["amr"], claims["acr"], amr, acr)
	}
}

// idTokenClaims returns the payload of an ID token, whose signature the
// token endpoint's TLS-free loopback answer makes moot here.
func idTokenClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("ID token %q is not a JWS", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}
