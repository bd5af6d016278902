package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/pquerna/otp/totp"

	"github.com/keyward/keyward"
)

// newCredential answers the registration options of the issuer at origin
// as a browser with a software authenticator would: a new P-256
// credential, user verified, with "none" attestation.
func newCredential(t *testing.T, origin string, options []byte) []byte {
	t.Helper()
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			RP        struct {
				ID string `json:"id"`
			} `json:"rp"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &o); err != nil {
		t.Fatalf("options %s: %v", options, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: raw[1:33], -3: raw[33:65]})
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	rp := sha256.Sum256([]byte(o.PublicKey.RP.ID))
	authData := append(rp[:], 0x01|0x04|0x40) // UP, UV, AT
	authData = binary.BigEndian.AppendUint32(authData, 0)
	authData = append(authData, make([]byte, 16)...) // AAGUID
	authData = binary.BigEndian.AppendUint16(authData, uint16(len(id)))
	authData = append(append(authData, id...), cose...)
	obj, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	if err != nil {
		t.Fatal(err)
	}
	cd, _ := json.Marshal(map[string]any{"type": "webauthn.create", "challenge": o.PublicKey.Challenge, "origin": origin, "crossOrigin": false})
	b64 := base64.RawURLEncoding
	b, _ := json.Marshal(map[string]any{
		"id": b64.EncodeToString(id), "rawId": b64.EncodeToString(id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON": b64.EncodeToString(cd), "attestationObject": b64.EncodeToString(obj), "transports": []string{"internal"},
		},
		"clientExtensionResults": map[string]any{"credProps": map[string]any{"rk": true}},
	})
	return b
}

// TestPasskeyEnrolment leads a user who must enrol a second factor and
// holds none to a passkey as well as to an authenticator app: the
// enrolment page offers it under a CSP that lets its script run, the
// restricted session may register it and nothing else, and the passkey
// then meets the requirement.
func TestPasskeyEnrolment(t *testing.T) {
	t.Parallel()
	st := newPasskeyStack(t)
	if err := st.store.UpdateUser(t.Context(), st.alice.ID, func(u *keyward.User) error { u.RequireMFA = true; return nil }); err != nil {
		t.Fatal(err)
	}
	hc := st.client(t)
	csrf := st.signIn(t, hc)
	resp, page := get(t, hc, st.url+"/account")
	if !secretRE.MatchString(page) || !strings.Contains(page, `id="passkey-enrol"`) || !strings.Contains(page, `<script src="/passkeys.js" defer></script>`) {
		t.Fatalf("enrolment page: %d, want the TOTP key and the passkey button; body:\n%s", resp.StatusCode, page)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "img-src data:") ||
		!strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("enrolment page CSP %q: want the QR code image, the passkey script and its fetches", csp)
	}
	// The restricted session may register a passkey, and nothing else.
	for _, path := range []string{accountPasskeys, "/account/recovery"} {
		method := http.MethodGet
		if path != accountPasskeys {
			method = http.MethodPost
		}
		if _, page := do(t, hc, method, st.url+path, url.Values{"csrf_token": {csrf}}); !secretRE.MatchString(page) {
			t.Errorf("%s %s in a session that must enrol: want the enrolment; body:\n%s", method, path, page)
		}
	}
	resp, body := st.postJSON(t, hc, passkeyRegBegin, csrf, "{}")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("register/begin in a session that must enrol: %d %s", resp.StatusCode, body)
	}
	cred := newCredential(t, st.url, []byte(body))
	if resp, body := st.postJSON(t, hc, passkeyRegFinish, "", `{"name":"laptop","credential":`+string(cred)+`}`); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("register/finish without the CSRF header: %d %s", resp.StatusCode, body)
	}
	// The ceremony cookie was not taken by the refused request.
	if resp, body := st.postJSON(t, hc, passkeyRegFinish, csrf, `{"name":"laptop","credential":`+string(cred)+`}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("register/finish: %d %s", resp.StatusCode, body)
	}
	resp, page = get(t, hc, st.url+"/account")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Where you are signed in") {
		t.Fatalf("account page after the passkey enrolment: %d; body:\n%s", resp.StatusCode, page)
	}
	// A later password sign-in owes the passkey, and cannot register
	// another one in its place.
	hc2 := st.client(t)
	csrf2 := st.signIn(t, hc2)
	if resp, body := st.postJSON(t, hc2, passkeyRegBegin, csrf2, "{}"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "login_required") {
		t.Errorf("register/begin in a session owing its passkey: %d %s", resp.StatusCode, body)
	}
}

// TestFactorPageOffersTheUsersFactors shows on the second-factor form the
// factors the user holds: the code field for an authenticator app, the
// button for a passkey, and a recovery code always.
func TestFactorPageOffersTheUsersFactors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		totp, passkey bool
	}{
		{name: "totp", totp: true},
		{name: "passkey", passkey: true},
		{name: "both", totp: true, passkey: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := newPasskeyStack(t)
			if tc.totp {
				hc := st.client(t)
				st.signIn(t, hc)
				_, page := get(t, hc, st.url+"/account/totp")
				m := secretRE.FindStringSubmatch(page)
				if m == nil {
					t.Fatalf("enrolment page:\n%s", page)
				}
				code, err := totp.GenerateCode(m[1], st.clk.Now())
				if err != nil {
					t.Fatal(err)
				}
				f := loginForm(t, page)
				f.Set("code", code)
				if resp, page := do(t, hc, http.MethodPost, st.url+"/account/totp/confirm", f); resp.StatusCode != http.StatusOK {
					t.Fatalf("confirm: %d\n%s", resp.StatusCode, page)
				}
			}
			if tc.passkey {
				if err := st.store.CreatePasskey(t.Context(), keyward.Passkey{ID: []byte("cred-1"), UserID: st.alice.ID, Name: "laptop", PublicKey: []byte{1}}); err != nil {
					t.Fatal(err)
				}
			}
			hc := st.client(t)
			st.signIn(t, hc)
			_, page := get(t, hc, st.url+"/account")
			if !strings.Contains(page, "Two-step sign-in") {
				t.Fatalf("want the second-factor form; body:\n%s", page)
			}
			if got := strings.Contains(page, "Code from your authenticator app"); got != tc.totp {
				t.Errorf("TOTP code field shown: %v, want %v; body:\n%s", got, tc.totp, page)
			}
			if got := strings.Contains(page, `id="passkey-factor"`); got != tc.passkey {
				t.Errorf("passkey button shown: %v, want %v; body:\n%s", got, tc.passkey, page)
			}
			if !strings.Contains(page, "recovery code") || !strings.Contains(page, `name="code"`) {
				t.Errorf("no way to type a recovery code; body:\n%s", page)
			}
		})
	}
}

// TestSecondFactorRenewsTheSessionCookie checks that the session cookie a
// browser holds after the password names no session once the second
// factor completes it: whoever knows only the password cannot plant a
// half-signed-in session in the user's browser and take it over once the
// user presents the factor in it.
func TestSecondFactorRenewsTheSessionCookie(t *testing.T) {
	t.Parallel()
	st := newPasskeyStack(t)
	hc := st.client(t)
	st.signIn(t, hc)
	_, page := get(t, hc, st.url+"/account/totp")
	m := secretRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("enrolment page:\n%s", page)
	}
	f := loginForm(t, page)
	f.Set("code", mustTOTP(t, m[1], st.clk.Now()))
	if resp, page := do(t, hc, http.MethodPost, st.url+"/account/totp/confirm", f); resp.StatusCode != http.StatusOK {
		t.Fatalf("confirm: %d\n%s", resp.StatusCode, page)
	}
	st.clk.Add(time.Minute) // the next code

	// The password alone: the session owes the code.
	planted := st.client(t)
	csrf := st.signIn(t, planted)
	u, _ := url.Parse(st.url)
	before := sessionCookieOf(t, planted, u)
	f = url.Values{"csrf_token": {csrf}, "code": {mustTOTP(t, m[1], st.clk.Now())}}
	if resp, page := do(t, planted, http.MethodPost, st.url+"/account/verify", f); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("second factor: %d\n%s", resp.StatusCode, page)
	}
	if after := sessionCookieOf(t, planted, u); after == before {
		t.Errorf("the session cookie did not change when the second factor completed the session")
	}
	if _, page := get(t, planted, st.url+"/account"); !strings.Contains(page, "Where you are signed in") {
		t.Fatalf("the browser that presented the factor is not signed in:\n%s", page)
	}
	attacker := st.client(t)
	attacker.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: before, Path: "/"}})
	if _, page := get(t, attacker, st.url+"/account"); strings.Contains(page, "Where you are signed in") || strings.Contains(page, "Two-step") {
		t.Errorf("the cookie of the half-signed-in session still names a session:\n%s", page)
	}
}

// sessionCookieOf returns the value of the session cookie hc holds for u.
func sessionCookieOf(t *testing.T, hc *http.Client, u *url.URL) string {
	t.Helper()
	for _, c := range hc.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			return c.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

// mustTOTP is the TOTP code of secret at now.
func mustTOTP(t *testing.T, secret string, now time.Time) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, now)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
