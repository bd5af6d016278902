package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/issuer"
)

// chromiumPath finds a Chromium or Chrome binary.
func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestBrowserLogin signs in through the login page in headless Chromium
// and lands on the client's redirect URI with a code that the token
// endpoint accepts. A screenshot of the login page is written to
// $KEYWARD_ARTIFACTS/login.png, or to the test's temporary directory.
func TestBrowserLogin(t *testing.T) {
	bin := chromiumPath()
	if bin == "" && os.Getenv("KEYWARD_REQUIRE_CHROMIUM") == "1" {
		t.Fatal("KEYWARD_REQUIRE_CHROMIUM=1 but no chromium, chromium-browser or google-chrome binary in PATH: install Debian's chromium")
	}
	if bin == "" {
		t.Skip("no chromium, chromium-browser or google-chrome binary in PATH: install Debian's chromium to run the browser test")
	}
	st := newStack(t, "")
	st.addUser(t, "alice", "correct horse battery staple")

	var (
		mu   sync.Mutex
		got  url.Values
		done = make(chan struct{}, 1)
	)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		got = r.URL.Query()
		mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>callback</title><p id="done">signed in</p>`)
		select {
		case done <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(cb.Close)
	redirect := cb.URL + "/callback"
	st.addClient(t, keyward.Client{ID: "spa", Name: "Browser test app", Public: true, RedirectURIs: []string{redirect},
		GrantTypes: []string{issuer.GrantAuthorizationCode, issuer.GrantRefreshToken}})

	verifier := "browser-test-verifier-0123456789-abcdefghijklmnopqrstuvwxyz"
	q := url.Values{"response_type": {"code"}, "client_id": {"spa"}, "redirect_uri": {redirect}, "scope": {"openid email"},
		"state": {"xyz"}, "nonce": {"n-1"}, "code_challenge": {challenge(verifier)}, "code_challenge_method": {"S256"}}

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(412, 915),
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()

	if err := chromedp.Do(bctx,
		chromedp.Navigate(st.srv.URL+"/authorize?"+q.Encode()),
		chromedp.WaitVisible(chromedp.ID("password")),
	); err != nil {
		t.Fatalf("browser: open the login page: %v", err)
	}
	shot, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("browser: screenshot: %v", err)
	}
	if err := chromedp.Do(bctx,
		chromedp.SendKeys(chromedp.ID("username"), "alice"),
		chromedp.SendKeys(chromedp.ID("password"), "correct horse battery staple"),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("done")),
	); err != nil {
		t.Fatalf("browser: sign in: %v", err)
	}
	loc, err := chromedp.Run(bctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("KEYWARD_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "login.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("login page screenshot: %s", path)

	if !strings.HasPrefix(loc, redirect) {
		t.Fatalf("landed on %s, want %s", loc, redirect)
	}
	<-done
	mu.Lock()
	params := got
	mu.Unlock()
	if params.Get("state") != "xyz" || params.Get("code") == "" {
		t.Fatalf("callback parameters %v", params)
	}
	resp, b := st.postForm(t, "/token", url.Values{"grant_type": {"authorization_code"}, "code": {params.Get("code")},
		"redirect_uri": {redirect}, "client_id": {"spa"}, "code_verifier": {verifier}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token: %d %s", resp.StatusCode, b)
	}
	if tr := decodeToken(t, resp, b); tr.IDToken == "" || tr.AccessToken == "" {
		t.Fatalf("token response without ID or access token: %s", b)
	}
}
