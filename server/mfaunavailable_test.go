package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

// TestRequiredFactorUnavailable signs in a user who must enrol a second
// factor on a server that offers none (no master key for TOTP, no
// passkeys): every page the session reaches says so, with a 403 and an
// audit line, never a 500 or a redirect that comes back to it.
func TestRequiredFactorUnavailable(t *testing.T) {
	t.Parallel()
	st := &mfaStack{stack: newStack(t, stackOptions{noTOTP: true})}
	st.addUser(t, "alice", alicePassword)
	st.addClient(t, keyward.Client{ID: "spa", Public: true, RedirectURIs: []string{callback},
		GrantTypes: []string{"authorization_code"}})
	u, err := st.store.GetUserByName(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.store.UpdateUser(t.Context(), u.ID, func(u *keyward.User) error { u.RequireMFA = true; return nil }); err != nil {
		t.Fatal(err)
	}
	hc, verifier := browser(t, st.stack), newVerifier()
	wantPage := func(t *testing.T, what string, resp *http.Response, page string) {
		t.Helper()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "offers no way to set one up") ||
			!strings.Contains(page, "Contact the operator") || strings.Contains(page, `name="code"`) {
			t.Fatalf("%s: status %d, want 403 and the page that says the server offers no second factor; body:\n%s", what, resp.StatusCode, page)
		}
	}
	resp, page := st.passwordStep(t, hc, verifier, nil)
	wantPage(t, "after the password", resp, page)
	for range 2 { // the same answer each time: no loop
		resp, page = get(t, hc, st.authorizeURL(verifier, nil))
		wantPage(t, "authorization request of the session", resp, page)
		resp, page = get(t, hc, st.srv.URL+"/account")
		wantPage(t, "account page of the session", resp, page)
	}
	logs := st.logs.String()
	if !strings.Contains(logs, `"msg":"second_factor_unavailable"`) || !strings.Contains(logs, `"user_id":"`+u.ID+`"`) {
		t.Errorf("no second_factor_unavailable audit line naming the user:\n%s", logs)
	}
}

// TestRequiredFactorPasskeyOnly leads a user who must enrol, on a server
// with passkeys but without TOTP (no master key), to register a passkey:
// the enrolment page offers the passkey alone, no authenticator app.
func TestRequiredFactorPasskeyOnly(t *testing.T) {
	t.Parallel()
	st := newPasskeyStackTOTP(t, false)
	if err := st.store.UpdateUser(t.Context(), st.alice.ID, func(u *keyward.User) error { u.RequireMFA = true; return nil }); err != nil {
		t.Fatal(err)
	}
	hc := st.client(t)
	csrf := st.signIn(t, hc)
	resp, page := get(t, hc, st.url+"/account")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `id="passkey-enrol"`) || secretRE.MatchString(page) ||
		strings.Contains(page, `name="code"`) {
		t.Fatalf("enrolment page without TOTP: %d, want the passkey button alone; body:\n%s", resp.StatusCode, page)
	}
	cred := newCredential(t, st.url, []byte(mustBody(t, st, hc, csrf)))
	if resp, body := st.postJSON(t, hc, passkeyRegFinish, csrf, `{"name":"laptop","credential":`+string(cred)+`}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("register/finish: %d %s", resp.StatusCode, body)
	}
	if resp, page := get(t, hc, st.url+"/account"); resp.StatusCode != http.StatusOK || !strings.Contains(page, "Where you are signed in") {
		t.Fatalf("account page after the passkey enrolment: %d; body:\n%s", resp.StatusCode, page)
	}
}

// mustBody begins a passkey registration and returns its options.
func mustBody(t *testing.T, st *passkeyStack, hc *http.Client, csrf string) string {
	t.Helper()
	resp, body := st.postJSON(t, hc, passkeyRegBegin, csrf, "{}")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("register/begin: %d %s", resp.StatusCode, body)
	}
	return body
}
