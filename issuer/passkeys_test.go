package issuer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/storage/memory"
)

// softKey is a software WebAuthn authenticator holding one P-256
// credential, for tests: it answers the issuer's ceremonies as a browser
// and an authenticator would, and can be told to lie.
type softKey struct {
	t      testing.TB
	key    *ecdsa.PrivateKey
	id     []byte
	user   []byte // the user handle it stores with the credential
	count  uint32
	rpID   string // the relying party it signs for
	origin string // the origin the "browser" reports
	flags  byte
}

const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

func newSoftKey(t testing.TB, rpID, origin string) *softKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	return &softKey{t: t, key: k, id: id, rpID: rpID, origin: origin, flags: flagUP | flagUV}
}

var b64 = base64.RawURLEncoding

// publicOptions reads the challenge, and the user handle of a creation,
// from options as the issuer returned them.
func publicOptions(t testing.TB, options []byte) (challenge, userHandle []byte, rpID string) {
	t.Helper()
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			RPID      string `json:"rpId"`
			RP        struct {
				ID string `json:"id"`
			} `json:"rp"`
			User struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &o); err != nil {
		t.Fatalf("options %s: %v", options, err)
	}
	ch, err := b64.DecodeString(o.PublicKey.Challenge)
	if err != nil {
		t.Fatalf("challenge: %v", err)
	}
	uh, _ := b64.DecodeString(o.PublicKey.User.ID)
	return ch, uh, o.PublicKey.RPID + o.PublicKey.RP.ID
}

func (k *softKey) clientData(typ string, challenge []byte) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": b64.EncodeToString(challenge), "origin": k.origin, "crossOrigin": false})
	return b
}

func (k *softKey) authData(extra []byte) []byte {
	h := sha256.Sum256([]byte(k.rpID))
	out := append(h[:], k.flags)
	out = binary.BigEndian.AppendUint32(out, k.count)
	return append(out, extra...)
}

// create answers a registration with the options.
func (k *softKey) create(options []byte) []byte {
	k.t.Helper()
	challenge, user, _ := publicOptions(k.t, options)
	k.user = user
	pub := k.key.PublicKey
	x, y := make([]byte, 32), make([]byte, 32)
	raw, _ := pub.Bytes() // 0x04 || X || Y
	copy(x, raw[1:33])
	copy(y, raw[33:65])
	cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y})
	if err != nil {
		k.t.Fatal(err)
	}
	att := make([]byte, 16) // AAGUID
	att = binary.BigEndian.AppendUint16(att, uint16(len(k.id)))
	att = append(append(att, k.id...), cose...)
	flags := k.flags
	k.flags |= flagAT
	authData := k.authData(att)
	k.flags = flags
	obj, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	if err != nil {
		k.t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{
		"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(k.clientData("webauthn.create", challenge)),
			"attestationObject": b64.EncodeToString(obj),
			"transports":        []string{"internal"},
		},
		"clientExtensionResults": map[string]any{"credProps": map[string]any{"rk": true}},
	})
	return b
}

// get answers a sign-in with the options, advancing the counter.
func (k *softKey) get(options []byte) []byte {
	k.t.Helper()
	challenge, _, _ := publicOptions(k.t, options)
	k.count++
	return k.sign(challenge)
}

// sign answers the challenge with the current counter.
func (k *softKey) sign(challenge []byte) []byte {
	k.t.Helper()
	cd := k.clientData("webauthn.get", challenge)
	ad := k.authData(nil)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte(nil), ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.key, digest[:])
	if err != nil {
		k.t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{
		"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(cd),
			"authenticatorData": b64.EncodeToString(ad),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(k.user),
		},
		"clientExtensionResults": map[string]any{},
	})
	return b
}

// passkeyFixture is an issuer with passkeys, a user "alice" signed in in
// session sess, and her software authenticator.
type passkeyFixture struct {
	*fixture
	pk    *Passkeys
	alice keyward.User
	sess  keyward.Session
	key   *softKey
}

func newPasskeyFixture(t testing.TB, mutate func(*Config)) *passkeyFixture {
	t.Helper()
	clk := newClock()
	f := newFixture(t, memory.New(memory.Config{Now: clk.Now}), clk, mutate)
	pk, err := NewPasskeys(f.issuer, PasskeyConfig{})
	if err != nil {
		t.Fatal(err)
	}
	alice, err := NewUser(t.Context(), f.store, "alice", "correct horse battery staple", nil, nil, testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, sess, err := f.issuer.SignIn(t.Context(), LoginRequest{Username: "alice", Password: "correct horse battery staple", RemoteAddr: "192.0.2.1"}, "")
	if err != nil {
		t.Fatal(err)
	}
	return &passkeyFixture{fixture: f, pk: pk, alice: alice, sess: sess, key: newSoftKey(t, "issuer.test", "https://issuer.test")}
}

// register registers k for the fixture's session.
func (f *passkeyFixture) register(t *testing.T, k *softKey, name string) keyward.Passkey {
	t.Helper()
	opts, ceremony, err := f.pk.BeginRegistration(t.Context(), f.sess)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.pk.FinishRegistration(t.Context(), f.sess, ceremony, name, k.create(opts))
	if err != nil {
		t.Fatalf("FinishRegistration: %v\n%s", err, f.log)
	}
	return got
}

// begin starts a sign-in, for userID ("" for a passkey alone).
func (f *passkeyFixture) begin(t *testing.T, userID string) ([]byte, string) {
	t.Helper()
	opts, ceremony, err := f.pk.BeginLogin(t.Context(), userID)
	if err != nil {
		t.Fatal(err)
	}
	return opts, ceremony
}

func TestRelyingParty(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		url, rpID, origin string
		ok                bool
	}{
		{"https://login.example.com", "login.example.com", "https://login.example.com", true},
		{"https://Login.Example.com:8443/auth", "login.example.com", "https://login.example.com:8443", true},
		{"http://localhost:8080", "localhost", "http://localhost:8080", true},
		{"https://localhost", "localhost", "https://localhost", true},
		{"http://idp.localhost:9000", "idp.localhost", "http://idp.localhost:9000", true},
		{"http://localhost.example.com", "", "", false},
		{"http://login.example.com", "", "", false},
		{"http://127.0.0.1:8080", "", "", false},
		{"https://192.0.2.1", "", "", false},
		{"https://[2001:db8::1]", "", "", false},
		{"https://intranet", "", "", false},
		{"https://user@login.example.com", "", "", false},
		{"login.example.com", "", "", false},
		{"", "", "", false},
	} {
		rpID, origin, err := RelyingParty(tt.url)
		if tt.ok != (err == nil) || rpID != tt.rpID || origin != tt.origin {
			t.Errorf("RelyingParty(%q) = %q, %q, %v; want %q, %q, ok=%v", tt.url, rpID, origin, err, tt.rpID, tt.origin, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrPasskeysUnavailable) {
			t.Errorf("RelyingParty(%q) error %v does not wrap ErrPasskeysUnavailable", tt.url, err)
		}
	}
}

func TestPasskeyRegisterAndSignIn(t *testing.T) {
	t.Parallel()
	f := newPasskeyFixture(t, nil)
	pk := f.register(t, f.key, "  my laptop  ")
	if pk.Name != "my laptop" || pk.UserID != f.alice.ID || !pk.UserVerified || pk.BackupEligible || len(pk.PublicKey) == 0 ||
		len(pk.Transports) != 1 || pk.Transports[0] != "internal" || !pk.CreatedAt.Equal(f.clock.Now()) {
		t.Errorf("registered %+v", pk)
	}
	if !strings.Contains(f.log.String(), `"msg":"passkey_registered"`) {
		t.Errorf("no passkey_registered line:\n%s", f.log)
	}

	f.clock.Add(time.Minute)
	opts, ceremony := f.begin(t, "")
	if strings.Contains(string(opts), "allowCredentials") {
		t.Errorf("a sign-in with a passkey alone lists credentials: %s", opts)
	}
	cookie, sess, l, err := f.pk.SignIn(t.Context(), PasskeyLoginRequest{Ceremony: ceremony, Response: f.key.get(opts), RemoteAddr: "192.0.2.7"}, "")
	if err != nil {
		t.Fatalf("SignIn: %v\n%s", err, f.log)
	}
	if l.User.ID != f.alice.ID || sess.UserID != f.alice.ID || cookie == "" || !l.UserVerified || l.SecondFactor {
		t.Errorf("SignIn = %+v, session %+v", l, sess)
	}
	if got := strings.Join(l.AMR(), " "); got != "hwk user pin mfa" {
		t.Errorf("AMR = %q, want hwk user pin mfa", got)
	}
	if l.Passkey.SignCount != 1 || !l.Passkey.LastUsedAt.Equal(f.clock.Now()) {
		t.Errorf("after the sign-in the passkey is %+v", l.Passkey)
	}
	if got, err := f.issuer.Session(t.Context(), cookie); err != nil || got.ID != sess.ID {
		t.Errorf("Session(cookie) = %+v, %v", got, err)
	}
	if strings.Join(sess.AMR, " ") != "hwk user pin mfa" || sess.ACR != ACRPhishingResistant {
		t.Errorf("session amr %v acr %q, want hwk user pin mfa and %s", sess.AMR, sess.ACR, ACRPhishingResistant)
	}
	if need, err := f.issuer.Requirement(t.Context(), sess, ACRPhishingResistant); err != nil || need != NeedNothing {
		t.Errorf("Requirement(phishing-resistant) after a passkey with UV = %v, %v", need, err)
	}

	// A synced passkey without user verification: swk alone.
	f.key.flags = flagUP
	k2 := newSoftKey(t, "issuer.test", "https://issuer.test")
	k2.flags = flagUP | flagBE | flagBS
	f.register(t, k2, "phone")
	opts, ceremony = f.begin(t, "")
	l, err = f.pk.FinishLogin(t.Context(), PasskeyLoginRequest{Ceremony: ceremony, Response: k2.get(opts)})
	if err != nil {
		t.Fatalf("FinishLogin(synced): %v\n%s", err, f.log)
	}
	if got := strings.Join(l.AMR(), " "); got != "swk user" || !l.Passkey.BackupState {
		t.Errorf("synced passkey without UV: AMR %q, passkey %+v", got, l.Passkey)
	}
}

// TestPasskeySignInRefusals checks every refusal of FinishLogin: each
// answers with the one invalid_grant error and says why in the log.
func TestPasskeySignInRefusals(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		reason string
		run    func(t *testing.T, f *passkeyFixture) PasskeyLoginRequest
	}{
		{"replayed assertion", "no_ceremony", func(t *testing.T, f *passkeyFixture) PasskeyLoginRequest {
			opts, ceremony := f.begin(t, "")
			resp := f.key.get(opts)
			if _, err := f.pk.FinishLogin(t.Context(), PasskeyLoginRequest{Ceremony: ceremony, Response: resp}); err != nil {
				t.Fatal(err)
			}
			return PasskeyLoginRequest{Ceremony: ceremony, Response: resp}
		}},
		{"assertion of another ceremony", "bad_assertion", func(t *testing.T, f *passkeyFixture) PasskeyLoginRequest {
			opts, _ := f.begin(t, "")
			_, ceremony := f.begin(t, "")
			return PasskeyLoginRequest{Ceremony: ceremony, Response: f.key.get(opts)}
		}},
		{"no ceremony", "no_ceremony", func(t *testing.T, f *passkeyFixture) PasskeyLoginRequest {
			opts, _ := f.begin(t, "")
			return PasskeyLoginRequest{Ceremony: "forged", Response: f.key.get(opts)}
		}},
		{"expired ceremony", "no_ceremony", func(t *testing.T, f *passkeyFixture) PasskeyLoginRequest {
			opts, ceremony := f.begin(t, "")
			f.clock.Add(DefaultPasskeyCeremonyTTL)
			return PasskeyLoginRequest{Ceremony: ceremony, Response: f.key.get(opts)}
		}},
		{"registration ceremony", "no_ceremony", func(t *testing.T, f *passkeyFixture) PasskeyLoginRequest {
			opts, _ := f.begin(t, "")
			_, ceremony, err := f.pk.BeginRegistration(t.Context(), f.sess)
			if err != nil {
				t.Fatal(err)
			}
			return PasskeyLoginRequest{Ceremony: ceremony, Response: f.key.get(opts)}
		}},
		{"another relying party", "bad_assertion", func(t *testing.T, f *passkeyFixture) PasskeyLoginRequest {
			opts, ceremony := f.begin(t, "")
			f.key.rpID = "evil.test"
			return PasskeyLoginRequest{Ceremony: ceremony, Response: f.key.get(opts)}
		}},
		{"another origin", "bad_assertion", func(t *testing.T, f *passkeyFixture) PasskeyLoginRequest {
			opts, ceremony := f.begin(t, "")
			f.key.origin = "https://evil.test"
			return PasskeyLoginRequest{Ceremony: ceremony, Response: f.key.get(opts)}
		}},
		{"no user presence", "bad_assertion", func(t *testing.T, f *passkeyFixture) PasskeyLoginRequest {
			opts, ceremony := f.begin(t, "")
			f.key.flags = flagUV
			return PasskeyLoginRequest{Ceremony: ceremony, Response: f.key.get(opts)}
		}},
		{"bad signature", "bad_assertion", func(t *testing.T, f *passkeyFixture) PasskeyLoginRequest {
			opts, ceremony := f.begin(t, "")
			other := newSoftKey(t, "issuer.test", "https://issuer.test")
			other.id, other.user = f.key.id, f.key.user
			return PasskeyLoginRequest{Ceremony: ceremony, Response: other.get(opts)}
		}},
		{"sign count backwards", "sign_count", func(t *testing.T, f *passkeyFixture) PasskeyLoginRequest {
			for range 3 {
				opts, ceremony := f.begin(t, "")
				if _, err := f.pk.FinishLogin(t.Context(), PasskeyLoginRequest{Ceremony: ceremony, Response: f.key.get(opts)}); err != nil {
					t.Fatal(err)
				}
			}
			opts, ceremony := f.begin(t, "")
			f.key.count = 1 // a clone made after the first sign-in
			return PasskeyLoginRequest{Ceremony: ceremony, Response: f.key.sign(mustChallenge(t, opts))}
		}},
		{"sign count repeated", "sign_count", func(t *testing.T, f *passkeyFixture) PasskeyLoginRequest {
			opts, ceremony := f.begin(t, "")
			if _, err := f.pk.FinishLogin(t.Context(), PasskeyLoginRequest{Ceremony: ceremony, Response: f.key.get(opts)}); err != nil {
				t.Fatal(err)
			}
			opts, ceremony = f.begin(t, "")
			return PasskeyLoginRequest{Ceremony: ceremony, Response: f.key.sign(mustChallenge(t, opts))}
		}},
		{"backup eligibility changed", "bad_assertion", func(t *testing.T, f *passkeyFixture) PasskeyLoginRequest {
			opts, ceremony := f.begin(t, "")
			f.key.flags |= flagBE
			return PasskeyLoginRequest{Ceremony: ceremony, Response: f.key.get(opts)}
		}},
		{"unknown credential", "unknown_passkey", func(t *testing.T, f *passkeyFixture) PasskeyLoginRequest {
			opts, ceremony := f.begin(t, "")
			other := newSoftKey(t, "issuer.test", "https://issuer.test")
			other.user = f.key.user
			return PasskeyLoginRequest{Ceremony: ceremony, Response: other.get(opts)}
		}},
		{"user handle of another user", "user_handle", func(t *testing.T, f *passkeyFixture) PasskeyLoginRequest {
			bob, err := NewUser(t.Context(), f.store, "bob", "correct horse battery staple", nil, nil, testPassword, nil)
			if err != nil {
				t.Fatal(err)
			}
			opts, ceremony := f.begin(t, "")
			f.key.user = []byte(bob.ID)
			return PasskeyLoginRequest{Ceremony: ceremony, Response: f.key.get(opts)}
		}},
		{"disabled user", "disabled", func(t *testing.T, f *passkeyFixture) PasskeyLoginRequest {
			if err := f.store.UpdateUser(t.Context(), f.alice.ID, func(u *keyward.User) error { u.Disabled = true; return nil }); err != nil {
				t.Fatal(err)
			}
			opts, ceremony := f.begin(t, "")
			return PasskeyLoginRequest{Ceremony: ceremony, Response: f.key.get(opts)}
		}},
		{"removed passkey", "unknown_passkey", func(t *testing.T, f *passkeyFixture) PasskeyLoginRequest {
			if _, err := f.store.DeleteUserPasskeys(t.Context(), f.alice.ID); err != nil {
				t.Fatal(err)
			}
			opts, ceremony := f.begin(t, "")
			return PasskeyLoginRequest{Ceremony: ceremony, Response: f.key.get(opts)}
		}},
		{"second factor with another user's passkey", "other_user", func(t *testing.T, f *passkeyFixture) PasskeyLoginRequest {
			bob, err := NewUser(t.Context(), f.store, "bob", "correct horse battery staple", nil, nil, testPassword, nil)
			if err != nil {
				t.Fatal(err)
			}
			bobKey := newSoftKey(t, "issuer.test", "https://issuer.test")
			bobKey.user = []byte(bob.ID)
			if err := f.store.CreatePasskey(t.Context(), keyward.Passkey{ID: bobKey.id, UserID: bob.ID, PublicKey: []byte{1}}); err != nil {
				t.Fatal(err)
			}
			opts, ceremony := f.begin(t, bob.ID)
			return PasskeyLoginRequest{Ceremony: ceremony, Response: f.key.get(opts)}
		}},
		{"malformed response", "malformed_response", func(t *testing.T, f *passkeyFixture) PasskeyLoginRequest {
			_, ceremony := f.begin(t, "")
			return PasskeyLoginRequest{Ceremony: ceremony, Response: []byte(`{"id":"x"}`)}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newPasskeyFixture(t, nil)
			f.register(t, f.key, "laptop")
			req := tt.run(t, f)
			stored, _ := f.store.GetPasskey(t.Context(), f.key.id)
			_, err := f.pk.FinishLogin(t.Context(), req)
			var oe *Error
			if !errors.As(err, &oe) || oe.Code != CodeInvalidGrant || oe.Description != "the passkey sign-in failed" {
				t.Fatalf("FinishLogin = %v, want the one invalid_grant answer", err)
			}
			if !strings.Contains(f.log.String(), `"reason":"`+tt.reason+`"`) {
				t.Errorf("no login_failed line with reason %s:\n%s", tt.reason, f.log)
			}
			if tt.reason == "sign_count" && !strings.Contains(f.log.String(), `"msg":"passkey_clone_suspected"`) {
				t.Errorf("no passkey_clone_suspected line:\n%s", f.log)
			}
			// A refused sign-in leaves the stored counter as it was.
			if after, err := f.store.GetPasskey(t.Context(), f.key.id); err == nil && after.SignCount != stored.SignCount {
				t.Errorf("SignCount moved from %d to %d on a refused sign-in", stored.SignCount, after.SignCount)
			}
		})
	}
}

func mustChallenge(t *testing.T, opts []byte) []byte {
	t.Helper()
	ch, _, _ := publicOptions(t, opts)
	return ch
}

func TestPasskeySecondFactor(t *testing.T) {
	t.Parallel()
	f := newPasskeyFixture(t, nil)
	f.register(t, f.key, "laptop")
	opts, ceremony := f.begin(t, f.alice.ID)
	if !strings.Contains(string(opts), b64.EncodeToString(f.key.id)) {
		t.Errorf("a second-factor sign-in does not list the user's passkey: %s", opts)
	}
	f.key.flags = flagUP // no user verification: the password is the other factor
	l, err := f.pk.FinishLogin(t.Context(), PasskeyLoginRequest{Ceremony: ceremony, Response: f.key.get(opts)})
	if err != nil {
		t.Fatalf("FinishLogin: %v\n%s", err, f.log)
	}
	if !l.SecondFactor || l.UserVerified || strings.Join(l.AMR(), " ") != "hwk user" {
		t.Errorf("second factor: %+v, AMR %v", l, l.AMR())
	}
	// A ceremony of the second factor does not open a session alone.
	opts, ceremony = f.begin(t, f.alice.ID)
	if _, _, _, err := f.pk.SignIn(t.Context(), PasskeyLoginRequest{Ceremony: ceremony, Response: f.key.get(opts)}, ""); err == nil {
		t.Error("SignIn with a second-factor ceremony succeeded")
	}

	// After the password, the session owes its second factor; the
	// passkey pays it.
	if need, err := f.issuer.Requirement(t.Context(), f.sess, ""); err != nil || need != NeedFactor {
		t.Fatalf("Requirement after the password of a user with a passkey = %v, %v; want NeedFactor", need, err)
	}
	opts, ceremony = f.begin(t, f.alice.ID)
	sess, err := f.pk.VerifySecondFactor(t.Context(), f.sess, PasskeyLoginRequest{Ceremony: ceremony, Response: f.key.get(opts)})
	if err != nil {
		t.Fatalf("VerifySecondFactor: %v\n%s", err, f.log)
	}
	if strings.Join(sess.AMR, " ") != "pwd hwk mfa" || sess.ACR != ACRPhishingResistant {
		t.Errorf("after the passkey: amr %v acr %q", sess.AMR, sess.ACR)
	}
	if need, err := f.issuer.Requirement(t.Context(), sess, ""); err != nil || need != NeedNothing {
		t.Errorf("Requirement after the second factor = %v, %v", need, err)
	}
	// Another session's user cannot pay with it.
	bobSess := keyward.Session{ID: "bob-session", UserID: "bob"}
	opts, ceremony = f.begin(t, f.alice.ID)
	if _, err := f.pk.VerifySecondFactor(t.Context(), bobSess, PasskeyLoginRequest{Ceremony: ceremony, Response: f.key.get(opts)}); err == nil {
		t.Error("VerifySecondFactor for another user's session succeeded")
	}
	// A user without passkeys has no second-factor ceremony.
	bob, err := NewUser(t.Context(), f.store, "bob", "correct horse battery staple", nil, nil, testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.pk.BeginLogin(t.Context(), bob.ID); err == nil {
		t.Error("BeginLogin(user without passkeys) succeeded")
	}
}

func TestPasskeyRegistrationRefusals(t *testing.T) {
	t.Parallel()
	f := newPasskeyFixture(t, nil)
	f.register(t, f.key, "laptop")

	// The options exclude the registered passkey and ask for a
	// discoverable credential with user verification preferred.
	opts, ceremony, err := f.pk.BeginRegistration(t.Context(), f.sess)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{b64.EncodeToString(f.key.id), `"residentKey":"required"`, `"userVerification":"preferred"`, `"rp":{"name":"keyward","id":"issuer.test"}`} {
		if !strings.Contains(string(opts), want) {
			t.Errorf("creation options lack %s: %s", want, opts)
		}
	}
	// The same credential again is refused.
	if _, err := f.pk.FinishRegistration(t.Context(), f.sess, ceremony, "", f.key.create(opts)); err == nil {
		t.Error("registering a credential twice succeeded")
	}

	other := keyward.Session{ID: "other-session", UserID: f.alice.ID}
	for _, tt := range []struct {
		name string
		run  func() error
	}{
		{"another session", func() error {
			opts, ceremony, _ := f.pk.BeginRegistration(t.Context(), f.sess)
			_, err := f.pk.FinishRegistration(t.Context(), other, ceremony, "", newSoftKey(t, "issuer.test", "https://issuer.test").create(opts))
			return err
		}},
		{"another relying party", func() error {
			opts, ceremony, _ := f.pk.BeginRegistration(t.Context(), f.sess)
			_, err := f.pk.FinishRegistration(t.Context(), f.sess, ceremony, "", newSoftKey(t, "evil.test", "https://issuer.test").create(opts))
			return err
		}},
		{"another origin", func() error {
			opts, ceremony, _ := f.pk.BeginRegistration(t.Context(), f.sess)
			_, err := f.pk.FinishRegistration(t.Context(), f.sess, ceremony, "", newSoftKey(t, "issuer.test", "https://evil.test").create(opts))
			return err
		}},
		{"sign-in ceremony", func() error {
			opts, _, _ := f.pk.BeginRegistration(t.Context(), f.sess)
			_, ceremony, _ := f.pk.BeginLogin(t.Context(), "")
			_, err := f.pk.FinishRegistration(t.Context(), f.sess, ceremony, "", newSoftKey(t, "issuer.test", "https://issuer.test").create(opts))
			return err
		}},
		{"replayed response", func() error {
			opts, ceremony, _ := f.pk.BeginRegistration(t.Context(), f.sess)
			resp := newSoftKey(t, "issuer.test", "https://issuer.test").create(opts)
			if _, err := f.pk.FinishRegistration(t.Context(), f.sess, ceremony, "", resp); err != nil {
				t.Fatal(err)
			}
			_, err := f.pk.FinishRegistration(t.Context(), f.sess, ceremony, "", resp)
			return err
		}},
		{"name too long", func() error {
			opts, ceremony, _ := f.pk.BeginRegistration(t.Context(), f.sess)
			_, err := f.pk.FinishRegistration(t.Context(), f.sess, ceremony, strings.Repeat("x", MaxPasskeyNameLen+1), newSoftKey(t, "issuer.test", "https://issuer.test").create(opts))
			return err
		}},
		{"malformed", func() error {
			_, ceremony, _ := f.pk.BeginRegistration(t.Context(), f.sess)
			_, err := f.pk.FinishRegistration(t.Context(), f.sess, ceremony, "", []byte("{}"))
			return err
		}},
	} {
		if err := tt.run(); err == nil {
			t.Errorf("%s: registration succeeded", tt.name)
		}
	}
	if pks, _ := f.pk.ListPasskeys(t.Context(), f.alice.ID); len(pks) != 2 { // laptop and the replayed one's first
		t.Errorf("alice has %d passkeys, want 2", len(pks))
	}
}

func TestPasskeyRenameAndRemove(t *testing.T) {
	t.Parallel()
	f := newPasskeyFixture(t, nil)
	pk := f.register(t, f.key, "laptop")
	ctx := t.Context()
	if err := f.pk.RenamePasskey(ctx, f.alice.ID, pk.ID, "work laptop"); err != nil {
		t.Fatal(err)
	}
	if err := f.pk.RenamePasskey(ctx, "someone else", pk.ID, "mine now"); !errors.Is(err, ErrPasskeyNotFound) {
		t.Errorf("renaming another user's passkey: %v", err)
	}
	if err := f.pk.RenamePasskey(ctx, f.alice.ID, pk.ID, "bad\nname"); err == nil {
		t.Error("a name with a newline was accepted")
	}
	pks, _ := f.pk.ListPasskeys(ctx, f.alice.ID)
	if len(pks) != 1 || pks[0].Name != "work laptop" {
		t.Errorf("after rename: %+v", pks)
	}

	// Removal needs a sign-in within PasskeyRemovalMaxAge.
	f.clock.Add(PasskeyRemovalMaxAge + time.Second)
	if err := f.pk.RemovePasskey(ctx, f.sess, pk.ID); !errors.Is(err, ErrReauthenticate) {
		t.Fatalf("RemovePasskey in an old session = %v, want ErrReauthenticate", err)
	}
	_, sess, err := f.issuer.SignIn(ctx, LoginRequest{Username: "alice", Password: "correct horse battery staple", RemoteAddr: "192.0.2.1"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.pk.RemovePasskey(ctx, keyward.Session{ID: "x", UserID: "someone else", AuthTime: f.clock.Now()}, pk.ID); !errors.Is(err, ErrPasskeyNotFound) {
		t.Errorf("removing another user's passkey: %v", err)
	}
	if err := f.pk.RemovePasskey(ctx, sess, pk.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.pk.RemovePasskey(ctx, sess, pk.ID); !errors.Is(err, ErrPasskeyNotFound) {
		t.Errorf("removing it again: %v", err)
	}
	if !strings.Contains(f.log.String(), `"msg":"passkey_removed"`) {
		t.Errorf("no passkey_removed line:\n%s", f.log)
	}
}

func TestPasskeyThrottle(t *testing.T) {
	t.Parallel()
	f := newPasskeyFixture(t, nil)
	f.register(t, f.key, "laptop")
	var last error
	for range 11 { // the (account, network) bucket holds 10
		opts, ceremony := f.begin(t, "")
		f.key.count = 0 // every attempt fails on the counter after the first
		_, last = f.pk.FinishLogin(t.Context(), PasskeyLoginRequest{Ceremony: ceremony, Response: f.key.get(opts), RemoteAddr: "198.51.100.9"})
	}
	var oe *Error
	if !errors.As(last, &oe) || oe.Code != CodeSlowDown || oe.RetryAfter <= 0 {
		t.Fatalf("the 11th attempt = %v, want slow_down", last)
	}
	// Another network is not slowed by this one.
	opts, ceremony := f.begin(t, "")
	f.key.count = 100
	if _, err := f.pk.FinishLogin(t.Context(), PasskeyLoginRequest{Ceremony: ceremony, Response: f.key.get(opts), RemoteAddr: "203.0.113.5"}); err != nil {
		t.Errorf("from another network: %v", err)
	}
}

func TestNewPasskeysRefusesInsecureIssuer(t *testing.T) {
	t.Parallel()
	clk := newClock()
	f := newFixture(t, memory.New(memory.Config{Now: clk.Now}), clk, func(c *Config) { c.Issuer = "http://192.0.2.1:8080" })
	if _, err := NewPasskeys(f.issuer, PasskeyConfig{}); !errors.Is(err, ErrPasskeysUnavailable) {
		t.Errorf("NewPasskeys(http://192.0.2.1:8080) = %v, want ErrPasskeysUnavailable", err)
	}
}

// FuzzPasskeyResponse feeds arbitrary responses to both ceremonies: none
// panics, and none succeeds.
func FuzzPasskeyResponse(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"","signature":"","userHandle":""}}`))
	f.Add([]byte(`{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","attestationObject":"oA"}}`))
	f.Add([]byte("\x00\xff"))
	// One fixture for every input: making one hashes a password twice
	// (argon2id), which would make each execution take a large part of a
	// second. Each input gets its own ceremonies.
	fx := newPasskeyFixture(f, nil)
	f.Fuzz(func(t *testing.T, resp []byte) {
		_, ceremony := fx.begin(t, "")
		if _, err := fx.pk.FinishLogin(t.Context(), PasskeyLoginRequest{Ceremony: ceremony, Response: resp}); err == nil {
			t.Fatal("an arbitrary assertion signed in")
		}
		_, ceremony, err := fx.pk.BeginRegistration(t.Context(), fx.sess)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fx.pk.FinishRegistration(t.Context(), fx.sess, ceremony, "", resp); err == nil {
			t.Fatal("an arbitrary attestation registered a passkey")
		}
	})
}

// FuzzPasskeyName checks the names users give passkeys: what is accepted
// is trimmed text of at most MaxPasskeyNameLen characters without control
// characters, and empty becomes "Passkey".
func FuzzPasskeyName(f *testing.F) {
	for _, s := range []string{"", "  laptop  ", "phone\n", strings.Repeat("é", MaxPasskeyNameLen), strings.Repeat("x", MaxPasskeyNameLen+1), "\xff", "a\x7fb", "🔑 key"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := passkeyName(in)
		if err != nil {
			return
		}
		if got == "" || !utf8.ValidString(got) || utf8.RuneCountInString(got) > MaxPasskeyNameLen || got != strings.TrimSpace(got) ||
			strings.ContainsFunc(got, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("passkeyName(%q) = %q", in, got)
		}
		if strings.TrimSpace(in) == "" && got != "Passkey" {
			t.Fatalf("passkeyName(%q) = %q, want Passkey", in, got)
		}
	})
}
