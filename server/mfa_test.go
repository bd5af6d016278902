package server

import (
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/issuer"
)

const alicePassword = "correct horse battery staple"

var (
	secretRE = regexp.MustCompile(`<code class="secret">([A-Z2-7]+)</code>`)
	codesRE  = regexp.MustCompile(`<li><code>([a-z2-7-]+)</code></li>`)
)

// mfaStack is a stack on a fake clock with alice and a public client.
type mfaStack struct {
	*stack
	clk *fakeClock
}

func newMFAStack(tb testing.TB, requireMFA bool) *mfaStack {
	tb.Helper()
	clk := newFakeClock()
	st := newStack(tb, stackOptions{now: clk.Now, requireMFA: requireMFA, throttle: issuer.ThrottleConfig{
		AccountBurst: 100, AddressBurst: 100, NetworkBurst: 100, SecondFactorBurst: 7}})
	st.addUser(tb, "alice", alicePassword)
	st.addClient(tb, keyward.Client{ID: "spa", Public: true, RedirectURIs: []string{callback},
		GrantTypes: []string{issuer.GrantAuthorizationCode}})
	return &mfaStack{stack: st, clk: clk}
}

// authorizeURL is an authorization request of the public client for a
// verifier, with extra parameters.
func (st *mfaStack) authorizeURL(verifier string, extra url.Values) string {
	q := url.Values{"response_type": {"code"}, "client_id": {"spa"}, "redirect_uri": {callback}, "scope": {"openid"},
		"state": {"st"}, "code_challenge": {challenge(verifier)}, "code_challenge_method": {"S256"}}
	for k, v := range extra {
		q[k] = v
	}
	return st.srv.URL + "/authorize?" + q.Encode()
}

// passwordStep opens an authorization request and signs in with alice's
// password; it returns the response and page that follow.
func (st *mfaStack) passwordStep(tb testing.TB, hc *http.Client, verifier string, extra url.Values) (*http.Response, string) {
	tb.Helper()
	resp, page := get(tb, hc, st.authorizeURL(verifier, extra))
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="password"`) {
		tb.Fatalf("status %d, want the login form; body:\n%s", resp.StatusCode, page)
	}
	f := loginForm(tb, page)
	f.Set("username", "alice")
	f.Set("password", alicePassword)
	return postLogin(tb, hc, st.stack, f)
}

// submit posts the form of page (its hidden fields) to action on the
// issuer with the fields set.
func (st *mfaStack) submit(tb testing.TB, hc *http.Client, page, action string, set map[string]string) (*http.Response, string) {
	tb.Helper()
	f := loginForm(tb, page)
	for k, v := range set {
		f.Set(k, v)
	}
	return do(tb, hc, http.MethodPost, st.srv.URL+action, f)
}

func do(tb testing.TB, hc *http.Client, method, u string, f url.Values) (*http.Response, string) {
	tb.Helper()
	req, err := http.NewRequestWithContext(tb.Context(), method, u, strings.NewReader(f.Encode()))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return send(tb, hc, req)
}

// totpCode is the code of secret at the stack's clock.
func (st *mfaStack) totpCode(tb testing.TB, secret string) string {
	tb.Helper()
	c, err := totp.GenerateCode(secret, st.clk.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// idClaims exchanges a code of the public client and returns the claims of
// its ID token.
func (st *mfaStack) idClaims(tb testing.TB, code, verifier string) map[string]any {
	tb.Helper()
	f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {callback}, "client_id": {"spa"}, "code_verifier": {verifier}}
	resp, b := st.postForm(tb, "/token", f, nil)
	tr := decodeToken(tb, resp, b)
	parts := strings.Split(tr.IDToken, ".")
	if len(parts) != 3 {
		tb.Fatalf("no ID token in %s", b)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		tb.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		tb.Fatal(err)
	}
	return claims
}

// wantMethods checks the amr and acr of ID-token claims.
func wantMethods(tb testing.TB, claims map[string]any, amr []string, acr string) {
	tb.Helper()
	var got []string
	for _, v := range claims["amr"].([]any) {
		got = append(got, v.(string))
	}
	if !slices.Equal(got, amr) || claims["acr"] != acr {
		tb.Fatalf("ID token amr %v acr %v, want %v %v", got, claims["acr"], amr, acr)
	}
}

// enrolFromAccount signs a new browser in to the account page and turns
// TOTP on; it returns the secret and the recovery codes.
func (st *mfaStack) enrolFromAccount(tb testing.TB) (*http.Client, string, []string) {
	tb.Helper()
	hc := browser(tb, st.stack)
	_, page := get(tb, hc, st.srv.URL+"/account")
	resp, page := st.submit(tb, hc, page, "/account/login", map[string]string{"username": "alice", "password": alicePassword})
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Your account") {
		tb.Fatalf("account sign-in: status %d; body:\n%s", resp.StatusCode, page)
	}
	resp, page = get(tb, hc, st.srv.URL+"/account/totp")
	m := secretRE.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		tb.Fatalf("enrolment page: status %d; body:\n%s", resp.StatusCode, page)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src data:") {
		tb.Errorf("enrolment page CSP %q lets no QR code image show", csp)
	}
	secret := m[1]
	resp, page = st.submit(tb, hc, page, "/account/totp/confirm", map[string]string{"code": st.totpCode(tb, secret)})
	var codes []string
	for _, c := range codesRE.FindAllStringSubmatch(page, -1) {
		codes = append(codes, c[1])
	}
	if resp.StatusCode != http.StatusOK || len(codes) != issuer.RecoveryCodeCount {
		tb.Fatalf("confirm: status %d, %d recovery codes; body:\n%s", resp.StatusCode, len(codes), page)
	}
	return hc, secret, codes
}

// TestTOTP enrols TOTP from the account page, then signs in with the
// password and a computed code: a code works once, a recovery code works
// once, wrong codes are throttled, and the ID token says how the user
// signed in.
func TestTOTP(t *testing.T) {
	t.Parallel()
	st := newMFAStack(t, false)
	_, secret, codes := st.enrolFromAccount(t)

	// The enrolment's code has been used: it is refused at sign-in, in
	// the same step.
	hc, verifier := browser(t, st.stack), newVerifier()
	resp, page := st.passwordStep(t, hc, verifier, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="code"`) || strings.Contains(page, `name="password"`) {
		t.Fatalf("after the password: status %d, want the second-factor form; body:\n%s", resp.StatusCode, page)
	}
	enrolCode := st.totpCode(t, secret)
	resp, page = st.submit(t, hc, page, "/authorize", map[string]string{"code": enrolCode})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "used already") {
		t.Fatalf("replayed enrolment code: status %d, want 401; body:\n%s", resp.StatusCode, page)
	}
	// The next step's code signs in.
	st.clk.Add(issuer.TOTPPeriod)
	next := st.totpCode(t, secret)
	resp, page = st.submit(t, hc, page, "/authorize", map[string]string{"code": next})
	code := codeFrom(t, st.stack, resp, page, "st")
	wantMethods(t, st.idClaims(t, code, verifier), []string{"pwd", "otp", "mfa"}, issuer.ACRMultiFactor)

	// The same code in another browser is refused: a code works once.
	hc2 := browser(t, st.stack)
	_, page = st.passwordStep(t, hc2, newVerifier(), nil)
	resp, page = st.submit(t, hc2, page, "/authorize", map[string]string{"code": next})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("replayed code: status %d, want 401; body:\n%s", resp.StatusCode, page)
	}
	// A recovery code works once, typed in upper case with spaces.
	typed := strings.ToUpper(strings.ReplaceAll(codes[3], "-", " "))
	resp, page = st.submit(t, hc2, page, "/authorize", map[string]string{"code": typed})
	codeFrom(t, st.stack, resp, page, "st")
	hc3 := browser(t, st.stack)
	_, page = st.passwordStep(t, hc3, newVerifier(), nil)
	resp, page = st.submit(t, hc3, page, "/authorize", map[string]string{"code": codes[3]})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("used recovery code: status %d, want 401; body:\n%s", resp.StatusCode, page)
	}
	// Wrong codes: the account's bucket (7 here, of which every attempt
	// above took one, good or bad) runs dry, and then even the right code
	// waits.
	var last int
	for range 4 {
		resp, page = st.submit(t, hc3, page, "/authorize", map[string]string{"code": "000000"})
		last = resp.StatusCode
	}
	if last != http.StatusTooManyRequests {
		t.Fatalf("after repeated wrong codes: status %d, want 429; body:\n%s", last, page)
	}
	st.clk.Add(issuer.TOTPPeriod)
	resp, _ = st.submit(t, hc3, page, "/authorize", map[string]string{"code": st.totpCode(t, secret)})
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right code while throttled: status %d, want 429", resp.StatusCode)
	}
	if !strings.Contains(st.logs.String(), `"reason":"throttled"`) {
		t.Errorf("no throttled second_factor_failed line in the log")
	}
	if strings.Contains(st.logs.String(), secret) {
		t.Errorf("the TOTP secret is in the log")
	}
}

// TestStepUp checks that acr_values asking for MFA forces a second factor
// on a session signed in with a password alone, and that the ID token's
// amr and acr follow.
func TestStepUp(t *testing.T) {
	t.Parallel()
	st := newMFAStack(t, false)
	mfa := url.Values{"acr_values": {"urn:example:unknown " + issuer.ACRMultiFactor}}

	// Alice has no second factor: the password alone gets a code.
	hc, verifier := browser(t, st.stack), newVerifier()
	resp, page := st.passwordStep(t, hc, verifier, nil)
	code := codeFrom(t, st.stack, resp, page, "st")
	wantMethods(t, st.idClaims(t, code, verifier), []string{"pwd"}, issuer.ACRSingleFactor)

	// Asking for MFA in the same session: prompt=none cannot, and an
	// interactive request leads through enrolling a factor.
	resp, page = get(t, hc, st.authorizeURL(newVerifier(), url.Values{"acr_values": mfa["acr_values"], "prompt": {"none"}}))
	if loc, _ := url.Parse(resp.Header.Get("Location")); resp.StatusCode != http.StatusFound || loc.Query().Get("error") != "login_required" {
		t.Fatalf("prompt=none step-up: status %d to %q, want login_required; body:\n%s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
	verifier = newVerifier()
	resp, page = get(t, hc, st.authorizeURL(verifier, mfa))
	m := secretRE.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("step-up without a factor: status %d, want the enrolment; body:\n%s", resp.StatusCode, page)
	}
	resp, page = st.submit(t, hc, page, "/authorize", map[string]string{"code": st.totpCode(t, m[1])})
	if resp.StatusCode != http.StatusOK || len(codesRE.FindAllString(page, -1)) != issuer.RecoveryCodeCount {
		t.Fatalf("enrolment: status %d, want the recovery codes; body:\n%s", resp.StatusCode, page)
	}
	resp, page = st.submit(t, hc, page, "/authorize", nil)
	code = codeFrom(t, st.stack, resp, page, "st")
	wantMethods(t, st.idClaims(t, code, verifier), []string{"pwd", "otp", "mfa"}, issuer.ACRMultiFactor)

	// Another browser's password-only session (opened before) is asked
	// for the factor now that alice has one, with or without acr_values;
	// a phishing-resistant class cannot be met with TOTP.
	hc2 := browser(t, st.stack)
	resp, page = st.passwordStep(t, hc2, newVerifier(), nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="mfa_action" value="verify"`) {
		t.Fatalf("password-only session of a user with a factor: status %d; body:\n%s", resp.StatusCode, page)
	}
	resp, page = get(t, hc, st.authorizeURL(newVerifier(), url.Values{"acr_values": {issuer.ACRPhishingResistant}}))
	if loc, _ := url.Parse(resp.Header.Get("Location")); resp.StatusCode != http.StatusFound || loc.Query().Get("error") != "unmet_authentication_requirements" {
		t.Fatalf("phishing-resistant request: status %d to %q; body:\n%s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
	// The first-party password login has no second step: refused.
	body := strings.NewReader(`{"username":"alice","password":"` + alicePassword + `"}`)
	resp2, b := st.do(t, http.MethodPost, "/login", "application/json", body, nil)
	if resp2.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "second factor") {
		t.Fatalf("/login of a user with a second factor: %d %s", resp2.StatusCode, b)
	}
}

// TestRequireMFA leads a user without a factor, on an issuer that requires
// one, through enrolment right after the password: the session can do
// nothing else meanwhile.
func TestRequireMFA(t *testing.T) {
	t.Parallel()
	st := newMFAStack(t, true)
	hc, verifier := browser(t, st.stack), newVerifier()
	resp, page := st.passwordStep(t, hc, verifier, nil)
	m := secretRE.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil || !strings.Contains(page, "needs a second step") {
		t.Fatalf("after the password: status %d, want the enrolment; body:\n%s", resp.StatusCode, page)
	}
	enrolPage := page
	// Meanwhile the account page shows the enrolment only, and its
	// other forms are refused.
	resp, page = get(t, hc, st.srv.URL+"/account")
	if !secretRE.MatchString(page) || strings.Contains(page, "Where you are signed in") {
		t.Fatalf("account page of a restricted session: status %d; body:\n%s", resp.StatusCode, page)
	}
	csrf := loginForm(t, page).Get("csrf_token")
	resp, page = do(t, hc, http.MethodPost, st.srv.URL+"/account/sessions/end-others", url.Values{"csrf_token": {csrf}})
	if !secretRE.MatchString(page) {
		t.Fatalf("a restricted session ended other sessions: status %d; body:\n%s", resp.StatusCode, page)
	}
	// A wrong first code leaves the enrolment pending.
	resp, page = st.submit(t, hc, enrolPage, "/authorize", map[string]string{"code": "123456"})
	if resp.StatusCode != http.StatusUnauthorized || secretRE.FindStringSubmatch(page)[1] != m[1] {
		t.Fatalf("wrong enrolment code: status %d, want 401 and the same key; body:\n%s", resp.StatusCode, page)
	}
	resp, page = st.submit(t, hc, page, "/authorize", map[string]string{"code": st.totpCode(t, m[1])})
	if resp.StatusCode != http.StatusOK || len(codesRE.FindAllString(page, -1)) != issuer.RecoveryCodeCount {
		t.Fatalf("enrolment: status %d, want the recovery codes; body:\n%s", resp.StatusCode, page)
	}
	resp, page = st.submit(t, hc, page, "/authorize", nil)
	code := codeFrom(t, st.stack, resp, page, "st")
	wantMethods(t, st.idClaims(t, code, verifier), []string{"pwd", "otp", "mfa"}, issuer.ACRMultiFactor)
	_, page = get(t, hc, st.srv.URL+"/account")
	if !strings.Contains(page, "Where you are signed in") || !strings.Contains(page, "10 unused recovery codes") {
		t.Fatalf("account page after enrolment; body:\n%s", page)
	}
}

// TestAccountCSRF refuses every POST of the account page without the
// browser's CSRF token, and leaves the account as it was.
func TestAccountCSRF(t *testing.T) {
	t.Parallel()
	st := newMFAStack(t, false)
	hc, _, _ := st.enrolFromAccount(t)
	st.clk.Add(time.Minute)
	for _, path := range []string{"/account/login", "/account/verify", "/account/totp/confirm", "/account/totp/remove",
		"/account/recovery", "/account/password", "/account/sessions/end", "/account/sessions/end-others", "/account/logout"} {
		for name, token := range map[string]string{"missing": "", "wrong": strings.Repeat("A", 43)} {
			resp, page := do(t, hc, http.MethodPost, st.srv.URL+path, url.Values{"csrf_token": {token}, "code": {"000000"},
				"current_password": {alicePassword}, "new_password": {"a new and long password"}, "username": {"alice"}, "password": {alicePassword}})
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s with a %s token: status %d, want 403; body:\n%s", path, name, resp.StatusCode, page)
			}
		}
	}
	resp, page := get(t, hc, st.srv.URL+"/account")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Where you are signed in") || !strings.Contains(page, "10 unused") {
		t.Fatalf("account after refused POSTs: status %d; body:\n%s", resp.StatusCode, page)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("account page Cache-Control %q, want no-store", resp.Header.Get("Cache-Control"))
	}
}

// TestAccountSessions lists the user's sessions with their devices, ends
// one (which the revocation feed publishes), then every other one, and
// changes the password, which ends the others too.
func TestAccountSessions(t *testing.T) {
	t.Parallel()
	st := newMFAStack(t, false)
	signIn := func(ua string) *http.Client {
		hc := browser(t, st.stack)
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, st.srv.URL+"/account", nil)
		req.Header.Set("User-Agent", ua)
		_, page := send(t, hc, req)
		f := loginForm(t, page)
		f.Set("username", "alice")
		f.Set("password", alicePassword)
		req, _ = http.NewRequestWithContext(t.Context(), http.MethodPost, st.srv.URL+"/account/login", strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("User-Agent", ua)
		if resp, page := send(t, hc, req); resp.StatusCode != http.StatusOK {
			t.Fatalf("sign-in: %d\n%s", resp.StatusCode, page)
		}
		return hc
	}
	oldTokens := st.login(t, "alice", alicePassword)
	phone := signIn("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")
	laptop := signIn("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
	tablet := signIn("Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36")
	_, page := get(t, laptop, st.srv.URL+"/account")
	for _, want := range []string{"Safari on iPhone", "Firefox on Linux</strong> (this browser)", "Chrome on Android"} {
		if !strings.Contains(page, want) {
			t.Errorf("sessions section lacks %q", want)
		}
	}
	u, err := st.store.GetUserByName(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	sessions, err := st.store.ListUserSessions(t.Context(), u.ID, st.clk.Now())
	if err != nil || len(sessions) != 3 {
		t.Fatalf("ListUserSessions() = %d sessions, %v", len(sessions), err)
	}
	var phoneID string
	for _, s := range sessions {
		if s.Device == "Safari on iPhone" {
			phoneID = s.ID
		}
	}
	f := loginForm(t, page)
	resp, page := do(t, laptop, http.MethodPost, st.srv.URL+"/account/sessions/end", url.Values{"csrf_token": {f.Get("csrf_token")}, "session_id": {phoneID}})
	if resp.StatusCode != http.StatusOK || strings.Contains(page, "Safari on iPhone") || !strings.Contains(page, "That browser is signed out") {
		t.Fatalf("end one session: status %d; body:\n%s", resp.StatusCode, page)
	}
	if revoked, err := st.store.IsGrantRevoked(t.Context(), keyward.GrantSession, phoneID); err != nil || !revoked {
		t.Errorf("ended session in the revocation feed: %v, %v", revoked, err)
	}
	if _, page := get(t, phone, st.srv.URL+"/account"); !strings.Contains(page, `name="password"`) {
		t.Errorf("the ended browser still sees the account page")
	}
	// A password change needs the current password and ends the others.
	resp, _ = do(t, laptop, http.MethodPost, st.srv.URL+"/account/password", url.Values{"csrf_token": {f.Get("csrf_token")},
		"current_password": {"wrong password here"}, "new_password": {"a new and long password"}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("password change with a wrong current password: status %d", resp.StatusCode)
	}
	resp, page = do(t, laptop, http.MethodPost, st.srv.URL+"/account/password", url.Values{"csrf_token": {f.Get("csrf_token")},
		"current_password": {alicePassword}, "new_password": {"password"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "refused") {
		t.Fatalf("breached new password: status %d; body:\n%s", resp.StatusCode, page)
	}
	resp, page = do(t, laptop, http.MethodPost, st.srv.URL+"/account/password", url.Values{"csrf_token": {f.Get("csrf_token")},
		"current_password": {alicePassword}, "new_password": {"a new and long password"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Your password is changed") || strings.Contains(page, "Chrome on Android") {
		t.Fatalf("password change: status %d; body:\n%s", resp.StatusCode, html.UnescapeString(page))
	}
	if _, page := get(t, tablet, st.srv.URL+"/account"); !strings.Contains(page, `name="password"`) {
		t.Errorf("another browser is still signed in after the password change")
	}
	// The tokens issued before are revoked: a first-party refresh token
	// and, through the user's cutoff in the feed, the access tokens.
	resp2, b := st.postForm(t, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {oldTokens.RefreshToken}}, nil)
	if resp2.StatusCode != http.StatusBadRequest {
		t.Errorf("refresh with a token from before the password change: %d %s", resp2.StatusCode, b)
	}
	cutoffs, err := st.store.ListUserRevocations(t.Context())
	if err != nil || len(cutoffs) != 1 || cutoffs[0].UserID != u.ID {
		t.Errorf("user cutoffs after the password change: %v, %v", cutoffs, err)
	}
	if _, page := get(t, laptop, st.srv.URL+"/account"); !strings.Contains(page, "Where you are signed in") {
		t.Errorf("the browser that changed the password is signed out")
	}
}

// TestMaxAgeWithSecondFactor checks max_age on a session that presented a
// second factor: a session younger than max_age gets a code at once; an
// older one signs in again, password and code, and the ID token's
// auth_time is the time of the code.
func TestMaxAgeWithSecondFactor(t *testing.T) {
	t.Parallel()
	st := newMFAStack(t, true)
	hc := browser(t, st.stack)
	_, page := st.passwordStep(t, hc, newVerifier(), nil)
	m := secretRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no enrolment after the password; body:\n%s", page)
	}
	_, page = st.submit(t, hc, page, "/authorize", map[string]string{"code": st.totpCode(t, m[1])})
	resp, page := st.submit(t, hc, page, "/authorize", nil)
	codeFrom(t, st.stack, resp, page, "st")

	st.clk.Add(time.Minute)
	resp, page = get(t, hc, st.authorizeURL(newVerifier(), url.Values{"max_age": {"3600"}}))
	codeFrom(t, st.stack, resp, page, "st")

	st.clk.Add(time.Minute)
	verifier := newVerifier()
	resp, page = get(t, hc, st.authorizeURL(verifier, url.Values{"max_age": {"30"}}))
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="password"`) {
		t.Fatalf("session older than max_age: status %d, want the login form; body:\n%s", resp.StatusCode, page)
	}
	f := loginForm(t, page)
	f.Set("username", "alice")
	f.Set("password", alicePassword)
	resp, page = postLogin(t, hc, st.stack, f)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `value="verify"`) {
		t.Fatalf("after the new password: status %d, want the second-factor form; body:\n%s", resp.StatusCode, page)
	}
	if lf := loginForm(t, page); lf.Get("max_age") != "30" {
		t.Errorf("the second-factor form carries max_age %q, want 30", lf.Get("max_age"))
	}
	st.clk.Add(10 * time.Second)
	resp, page = st.submit(t, hc, page, "/authorize", map[string]string{"code": st.totpCode(t, m[1])})
	claims := st.idClaims(t, codeFrom(t, st.stack, resp, page, "st"), verifier)
	if at, _ := claims["auth_time"].(float64); int64(at) != st.clk.Now().Unix() {
		t.Errorf("auth_time %v, want the time of the code %d", claims["auth_time"], st.clk.Now().Unix())
	}
	wantMethods(t, claims, []string{"pwd", "otp", "mfa"}, issuer.ACRMultiFactor)
}
