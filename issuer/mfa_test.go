package issuer

import (
	"encoding/base32"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pquerna/otp/totp"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/storage/memory"
)

func TestAMRAndACR(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		methods []string
		amr     []string
		acr     string
	}{
		{name: "none", methods: nil, amr: nil, acr: ""},
		{name: "password", methods: []string{"pwd"}, amr: []string{"pwd"}, acr: ACRSingleFactor},
		{name: "password and otp", methods: []string{"pwd", "otp"}, amr: []string{"pwd", "otp", "mfa"}, acr: ACRMultiFactor},
		{name: "repeated otp", methods: []string{"pwd", "otp", "otp"}, amr: []string{"pwd", "otp", "mfa"}, acr: ACRMultiFactor},
		{name: "mfa passed in is recomputed", methods: []string{"pwd", "mfa"}, amr: []string{"pwd"}, acr: ACRSingleFactor},
		{name: "passkey with PIN", methods: []string{"hwk", "pin"}, amr: []string{"hwk", "pin", "mfa"}, acr: ACRPhishingResistant},
		{name: "passkey with presence only", methods: []string{"swk", "user"}, amr: []string{"swk", "user"}, acr: ACRSingleFactor},
		{name: "password and passkey", methods: []string{"pwd", "hwk"}, amr: []string{"pwd", "hwk", "mfa"}, acr: ACRPhishingResistant},
		{name: "two possessions", methods: []string{"otp", "hwk"}, amr: []string{"otp", "hwk"}, acr: ACRSingleFactor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			amr := AMRFor(tt.methods)
			if !slices.Equal(amr, tt.amr) || ACRFor(amr) != tt.acr {
				t.Errorf("AMRFor(%v) = %v, ACRFor = %q; want %v, %q", tt.methods, amr, ACRFor(amr), tt.amr, tt.acr)
			}
		})
	}
}

func TestParseACRValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		err      bool
	}{
		{in: "", want: ""},
		{in: "urn:example:other", want: ""},
		{in: ACRMultiFactor, want: ACRMultiFactor},
		{in: ACRPhishingResistant + " " + ACRMultiFactor, want: ACRMultiFactor},
		{in: "  x  " + ACRPhishingResistant + "\t", want: ACRPhishingResistant},
		{in: ACRSingleFactor + " " + ACRPhishingResistant, want: ACRSingleFactor},
		{in: strings.Repeat("a", maxACRValues+1), err: true},
	}
	for _, tt := range tests {
		got, err := ParseACRValues(tt.in)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("ParseACRValues(%.40q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func FuzzParseACRValues(f *testing.F) {
	f.Add("")
	f.Add(ACRMultiFactor + " " + ACRPhishingResistant)
	f.Add("urn:keyward:acr:mfa\x00 urn:keyward:acr:sfa")
	f.Fuzz(func(t *testing.T, v string) {
		got, err := ParseACRValues(v)
		if err != nil {
			if len(v) <= maxACRValues {
				t.Fatalf("ParseACRValues(%q) failed: %v", v, err)
			}
			return
		}
		if got != "" && (!slices.Contains(ACRValues(), got) || !slices.Contains(strings.Fields(v), got)) {
			t.Fatalf("ParseACRValues(%q) = %q, not an offered class named in the input", v, got)
		}
	})
}

func TestNormalizeCodes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{in: "123456", want: "123456", ok: true},
		{in: " 123 456 ", want: "123456", ok: true},
		{in: "123-456", want: "123456", ok: true},
		{in: "12345", ok: false},
		{in: "1234567", ok: false},
		{in: "12345a", ok: false},
		{in: "١٢٣٤٥٦", ok: false}, // Arabic-Indic digits
	} {
		got, ok := NormalizeTOTPCode(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("NormalizeTOTPCode(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{in: "abcd-efgh-ijkl-mn23", want: "abcdefghijklmn23", ok: true},
		{in: "ABCD EFGH IJKL MN23", want: "abcdefghijklmn23", ok: true},
		{in: "abcdefghijklmn23", want: "abcdefghijklmn23", ok: true},
		{in: "abcd-efgh-ijkl-mn2", ok: false},
		{in: "abcd-efgh-ijkl-mn01", ok: false}, // 0 and 1 are not in the alphabet
		{in: "abcd-efgh-ijkl-mn2ß", ok: false},
		{in: strings.Repeat("a", 65), ok: false},
	} {
		got, ok := NormalizeRecoveryCode(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("NormalizeRecoveryCode(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzNormalizeRecoveryCode(f *testing.F) {
	f.Add("abcd-efgh-ijkl-mn23")
	f.Add("ABCD EFGH IJKL MN23")
	f.Add("\u212a") // Kelvin sign, which folds to k elsewhere
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := NormalizeRecoveryCode(s)
		if !ok {
			return
		}
		if len(got) != recoveryCodeLen || !utf8.ValidString(got) {
			t.Fatalf("NormalizeRecoveryCode(%q) = %q", s, got)
		}
		if _, err := recoveryEncoding.DecodeString(got); err != nil {
			t.Fatalf("NormalizeRecoveryCode(%q) = %q, not in the code alphabet: %v", s, got, err)
		}
		if again, ok := NormalizeRecoveryCode(got); !ok || again != got {
			t.Fatalf("normalising %q again gives %q, %v", got, again, ok)
		}
	})
}

func FuzzNormalizeTOTPCode(f *testing.F) {
	f.Add("123 456")
	f.Add("12-34-56")
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := NormalizeTOTPCode(s)
		if !ok {
			return
		}
		if len(got) != TOTPDigits || strings.Trim(got, "0123456789") != "" {
			t.Fatalf("NormalizeTOTPCode(%q) = %q", s, got)
		}
	})
}

// TestTOTPStepWindow accepts the codes of the step before, the current one
// and the one after, each only past the last step used.
func TestTOTPStepWindow(t *testing.T) {
	t.Parallel()
	secret := []byte("12345678901234567890")
	enc := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)
	now := time.Unix(1_900_000_005, 0)
	cur := now.Unix() / 30
	code := func(d time.Duration) string {
		c, err := totp.GenerateCode(enc, now.Add(d))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tt := range []struct {
		name string
		code string
		last int64
		step int64
		ok   bool
	}{
		{name: "current", code: code(0), step: cur, ok: true},
		{name: "previous", code: code(-30 * time.Second), step: cur - 1, ok: true},
		{name: "next", code: code(30 * time.Second), step: cur + 1, ok: true},
		{name: "two back", code: code(-60 * time.Second)},
		{name: "two ahead", code: code(60 * time.Second)},
		{name: "current, used", code: code(0), last: cur},
		{name: "previous, later used", code: code(-30 * time.Second), last: cur - 1},
		{name: "next after current used", code: code(30 * time.Second), last: cur, step: cur + 1, ok: true},
	} {
		step, ok := totpStep(secret, tt.code, now, tt.last)
		if ok != tt.ok || (ok && step != tt.step) {
			t.Errorf("%s: totpStep() = %d, %v; want %d, %v", tt.name, step, ok, tt.step, tt.ok)
		}
	}
}

// mfaFixture is an issuer with TOTP and a user enrolled through it.
func mfaFixture(tb testing.TB) (*fixture, keyward.User, keyward.Session, string) {
	tb.Helper()
	clk := newClock()
	fx := newFixture(tb, memory.New(memory.Config{Now: clk.Now}), clk, func(c *Config) {
		c.Sealer = testTOTPSealer(tb)
		c.Throttle.SecondFactorBurst = 100
	})
	u, err := NewUser(tb.Context(), fx.store, "alice", "correct horse battery staple", nil, nil, testPassword, nil)
	if err != nil {
		tb.Fatal(err)
	}
	_, sess, err := fx.issuer.CompleteLogin(tb.Context(), u, []string{MethodPassword}, "", "")
	if err != nil {
		tb.Fatal(err)
	}
	e, err := fx.issuer.BeginTOTP(tb.Context(), u)
	if err != nil {
		tb.Fatal(err)
	}
	c, _ := totp.GenerateCode(e.Secret, clk.Now())
	if _, sess, err = fx.issuer.ConfirmTOTP(tb.Context(), sess, c); err != nil {
		tb.Fatal(err)
	}
	return fx, u, sess, e.Secret
}

func testTOTPSealer(tb testing.TB) *Sealer {
	tb.Helper()
	s, err := NewTOTPSealer(testMasterKey, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// TestSecondFactorOnce presents one code from many requests at once: one
// is accepted, as on two replicas sharing a store.
func TestSecondFactorOnce(t *testing.T) {
	t.Parallel()
	fx, u, _, secret := mfaFixture(t)
	fx.clock.Add(TOTPPeriod)
	code, _ := totp.GenerateCode(secret, fx.clock.Now())
	var sessions []keyward.Session
	for range 8 {
		_, s, err := fx.issuer.CompleteLogin(t.Context(), u, []string{MethodPassword}, "", "")
		if err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, s)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for _, s := range sessions {
		wg.Go(func() {
			_, err := fx.issuer.VerifySecondFactor(t.Context(), s, code)
			if err != nil && !errors.Is(err, ErrBadCode) {
				t.Errorf("VerifySecondFactor() = %v", err)
			}
			if err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d of %d uses of one code accepted, want 1", wins, len(sessions))
	}
}

// TestBeginTOTP shows a pending enrolment again, refuses a second one, and
// stores the secret sealed.
func TestBeginTOTP(t *testing.T) {
	t.Parallel()
	clk := newClock()
	fx := newFixture(t, memory.New(memory.Config{Now: clk.Now}), clk, func(c *Config) { c.Sealer = testTOTPSealer(t) })
	u, err := NewUser(t.Context(), fx.store, "bob", "correct horse battery staple", nil, nil, testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := fx.issuer.BeginTOTP(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	b, err := fx.issuer.BeginTOTP(t.Context(), u)
	if err != nil || a.Secret != b.Secret || len(a.PNG) == 0 || !strings.HasPrefix(a.URL, "otpauth://totp/issuer.test:bob?") {
		t.Fatalf("BeginTOTP again = %q %q, %v; want the pending secret again", a.Secret, b.Secret, err)
	}
	stored, err := fx.store.GetTOTP(t.Context(), u.ID)
	if err != nil || strings.Contains(string(stored.Secret), a.Secret) {
		t.Fatalf("stored secret %q, %v: want it sealed", stored.Secret, err)
	}
	raw, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(a.Secret)
	if strings.Contains(string(stored.Secret), string(raw)) {
		t.Fatalf("stored secret holds the raw secret")
	}
	_, sess, _ := fx.issuer.CompleteLogin(t.Context(), u, []string{MethodPassword}, "", "")
	c, _ := totp.GenerateCode(a.Secret, clk.Now())
	if _, _, err := fx.issuer.ConfirmTOTP(t.Context(), sess, c); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.issuer.BeginTOTP(t.Context(), u); !errors.Is(err, ErrTOTPEnrolled) {
		t.Fatalf("BeginTOTP after enrolment = %v, want ErrTOTPEnrolled", err)
	}
	// Without a sealer, TOTP is off and RequireMFA refused.
	fx2 := newFixture(t, memory.New(memory.Config{Now: clk.Now}), clk, nil)
	if _, err := fx2.issuer.BeginTOTP(t.Context(), u); !errors.Is(err, ErrTOTPUnavailable) {
		t.Fatalf("BeginTOTP without a sealer = %v", err)
	}
	if _, err := New(Config{Store: fx.store, Keys: fx.keys, Issuer: "https://issuer.test", RequireMFA: true, Password: testPassword}); err == nil {
		t.Fatalf("New(RequireMFA without a Sealer) succeeded")
	}
}

// TestRemoveTOTPNeedsFreshCode refuses to remove TOTP without a current
// code, and removes the recovery codes with it.
func TestRemoveTOTPNeedsFreshCode(t *testing.T) {
	t.Parallel()
	fx, u, sess, secret := mfaFixture(t)
	if err := fx.issuer.RemoveTOTP(t.Context(), sess, ""); !errors.Is(err, ErrBadCode) {
		t.Fatalf("RemoveTOTP without a code = %v, want ErrBadCode", err)
	}
	fx.clock.Add(TOTPPeriod)
	c, _ := totp.GenerateCode(secret, fx.clock.Now())
	if err := fx.issuer.RemoveTOTP(t.Context(), sess, c); err != nil {
		t.Fatal(err)
	}
	f, err := fx.issuer.UserFactors(t.Context(), u.ID)
	if err != nil || f.TOTP || f.RecoveryCodes != 0 {
		t.Fatalf("factors after removal: %+v, %v", f, err)
	}
}

// TestResetMFA removes every factor, ends every session (the feed's user
// cutoff refuses its tokens) and logs why.
func TestResetMFA(t *testing.T) {
	t.Parallel()
	fx, u, sess, _ := mfaFixture(t)
	if err := fx.issuer.ResetMFA(t.Context(), u.ID, "lost phone, ticket 42"); err != nil {
		t.Fatal(err)
	}
	f, err := fx.issuer.UserFactors(t.Context(), u.ID)
	if err != nil || f.TOTP || f.PendingTOTP || f.RecoveryCodes != 0 {
		t.Fatalf("factors after reset: %+v, %v", f, err)
	}
	if s, _ := fx.store.GetSession(t.Context(), sess.ID); s.RevokedAt.IsZero() {
		t.Errorf("session still active after the reset")
	}
	cutoffs, err := fx.store.ListUserRevocations(t.Context())
	if err != nil || len(cutoffs) != 1 || cutoffs[0].UserID != u.ID {
		t.Errorf("user cutoffs after the reset: %v, %v; want the user's, which the feed publishes", cutoffs, err)
	}
	if !strings.Contains(fx.log.String(), `"msg":"mfa_reset"`) || !strings.Contains(fx.log.String(), "ticket 42") {
		t.Errorf("no mfa_reset line with the reason in:\n%s", fx.log.String())
	}
	if err := fx.issuer.ResetMFA(t.Context(), "nobody", "x"); !errors.Is(err, keyward.ErrNotFound) {
		t.Errorf("ResetMFA(unknown) = %v, want ErrNotFound", err)
	}
}

func TestDeviceLabel(t *testing.T) {
	t.Parallel()
	for ua, want := range map[string]string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 Edg/126.0": "Edge on Windows",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15":    "Safari on macOS",
		"curl/8.5.0": "curl",
		"":           "",
		"<script>":   "",
	} {
		if got := DeviceLabel(ua); got != want {
			t.Errorf("DeviceLabel(%q) = %q, want %q", ua, got, want)
		}
	}
}

func FuzzDeviceLabel(f *testing.F) {
	f.Add("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1")
	f.Add("curl/8.5.0")
	f.Add("<b>Firefox/1 Linux</b>")
	f.Fuzz(func(t *testing.T, ua string) {
		got := DeviceLabel(ua)
		if len(got) > 32 || strings.ContainsAny(got, "<>&\"'/") {
			t.Fatalf("DeviceLabel(%q) = %q, want a short fixed label", ua, got)
		}
	})
}
