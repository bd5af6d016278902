package issuer

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/keyward/keyward"
)

func TestHashPassword(t *testing.T) {
	t.Parallel()
	h, err := HashPassword(testPassword, "correct horse", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q is not an argon2id PHC string with the parameters", h)
	}
	h2, err := HashPassword(testPassword, "correct horse", nil)
	if err != nil {
		t.Fatal(err)
	}
	if h == h2 {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	tests := []struct {
		name     string
		password string
		want     bool
	}{
		{"right", "correct horse", true},
		{"wrong", "correct horsE", false},
		{"empty", "", false},
		{"prefix", "correct", false},
		{"too long", strings.Repeat("a", MaxPasswordLen+1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := VerifyPassword(h, tt.password)
			if err != nil || got != tt.want {
				t.Fatalf("VerifyPassword = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestDefaultPasswordParams(t *testing.T) {
	t.Parallel()
	h, err := HashPassword(PasswordParams{}, "pw", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("default parameters give %q, want OWASP's m=19456,t=2,p=1", h)
	}
}

func TestVerifyPasswordBadHash(t *testing.T) {
	t.Parallel()
	good, err := HashPassword(testPassword, "pw", nil)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	tests := []struct {
		name string
		hash string
	}{
		{"empty", ""},
		{"bcrypt", "$2a$10$abcdefghijklmnopqrstuu5R0Y1vFqDkKwFMjSm0sB5HPmXyqZfK"},
		{"argon2i", strings.Replace(good, "argon2id", "argon2i", 1)},
		{"old version", strings.Replace(good, "v=19", "v=16", 1)},
		{"missing param", "$argon2id$v=19$m=64,t=1$" + parts[4] + "$" + parts[5]},
		{"unknown param", "$argon2id$v=19$m=64,t=1,p=1,x=2$" + parts[4] + "$" + parts[5]},
		{"huge memory", "$argon2id$v=19$m=4194304,t=1,p=1$" + parts[4] + "$" + parts[5]},
		{"huge time", "$argon2id$v=19$m=64,t=1000,p=1$" + parts[4] + "$" + parts[5]},
		{"zero threads", "$argon2id$v=19$m=64,t=1,p=0$" + parts[4] + "$" + parts[5]},
		{"padded salt", "$argon2id$v=19$m=64,t=1,p=1$" + parts[4] + "=$" + parts[5]},
		{"short hash", "$argon2id$v=19$m=64,t=1,p=1$" + parts[4] + "$AAAA"},
		{"extra field", good + "$x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ok, err := VerifyPassword(tt.hash, "pw")
			if ok || !errors.Is(err, errBadHash) {
				t.Fatalf("VerifyPassword(%q) = %v, %v; want false, errBadHash", tt.hash, ok, err)
			}
		})
	}
}

func TestClientSecret(t *testing.T) {
	t.Parallel()
	secret, hash, err := NewClientSecret(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) != 43 || !strings.HasPrefix(hash, "$sha256$") || strings.Contains(hash, secret) {
		t.Fatalf("secret %d chars, hash %q", len(secret), hash)
	}
	argon, err := HashPassword(testPassword, secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, hash, secret string
		want               bool
	}{
		{"sha256 right", hash, secret, true},
		{"sha256 wrong", hash, secret + "x", false},
		{"sha256 empty", hash, "", false},
		{"argon2id right", argon, secret, true},
		{"argon2id wrong", argon, "nope", false},
		{"no hash", "", "", false},
		{"unknown scheme", "plain:" + secret, secret, false},
		{"truncated", hash[:20], secret, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := VerifyClientSecret(tt.hash, tt.secret); got != tt.want {
				t.Fatalf("VerifyClientSecret = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestNewIDNeverStartsWithDash draws from a reader whose first 16 bytes
// encode to an identifier starting with "-" (0xF8 is 111110..., the 62nd
// character of the alphabet); NewID must throw that draw away.
func TestNewIDNeverStartsWithDash(t *testing.T) {
	t.Parallel()
	first := bytes.Repeat([]byte{0xF8}, 16)
	second := bytes.Repeat([]byte{0x10}, 16)
	id, err := NewID(bytes.NewReader(append(first, second...)))
	if err != nil {
		t.Fatal(err)
	}
	if want := b64url.EncodeToString(second); id != want {
		t.Fatalf("NewID = %q, want %q (the second draw)", id, want)
	}
	if _, err := NewID(bytes.NewReader(first)); err == nil {
		t.Fatal("NewID took an identifier starting with '-'")
	}
}

func TestPasswordPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		policy   PasswordPolicy
		password string
		refused  string // a part of the error, "" when accepted
	}{
		{name: "one character", password: "x", refused: "too short"},
		{name: "eleven characters", password: "k3#Vq9!mZp2", refused: "too short"},
		{name: "random, 12 characters", password: "k3#Vq9!mZp2w"},
		{name: "a passphrase", password: "correct horse battery staple"},
		{name: "breached", password: "qwerty123456", refused: "common passwords"},
		{name: "breached, other case", password: "QWERTY123456", refused: "common passwords"},
		{name: "breached, 8 characters, lower minimum", policy: PasswordPolicy{MinLength: 8}, password: "password", refused: "common passwords"},
		{name: "8 characters, lower minimum", policy: PasswordPolicy{MinLength: 8}, password: "k3#Vq9!m"},
		{name: "one character repeated", password: strings.Repeat("a", 20), refused: "repeated"},
		{name: "12 code points, 24 bytes", password: "ÄÖÜäöüßÉÈÊËé"},
		{name: "combining marks count once", password: strings.Repeat("e\u0301", 11), refused: "too short"},
		{name: "128 characters", password: strings.Repeat("ab", 64)},
		{name: "129 characters", password: strings.Repeat("ab", 64) + "c", refused: "too long"},
		{name: "over MaxPasswordLen bytes", password: strings.Repeat("ab", MaxPasswordLen), refused: "too long"},
		{name: "invalid UTF-8", password: "k3#Vq9!mZp2w\xff", refused: "UTF-8"},
		{name: "longer minimum", policy: PasswordPolicy{MinLength: 20}, password: "k3#Vq9!mZp2wk3#Vq9!", refused: "minimum is 20"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.policy.Check(tt.password)
			if tt.refused == "" {
				if err != nil {
					t.Fatalf("Check: %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrPasswordRefused) || !strings.Contains(err.Error(), tt.refused) {
				t.Fatalf("Check: %v, want ErrPasswordRefused saying %q", err, tt.refused)
			}
			if len(tt.password) > len("password") && strings.Contains(err.Error(), tt.password) {
				t.Fatalf("the error %q holds the password", err)
			}
		})
	}
}

func TestPasswordPolicyValidate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		min int
		ok  bool
	}{{0, true}, {8, true}, {12, true}, {128, true}, {7, false}, {1, false}, {-1, false}, {129, false}} {
		p := PasswordPolicy{MinLength: tt.min}
		if err := p.Validate(); (err == nil) != tt.ok {
			t.Errorf("MinLength %d: Validate = %v, want ok %v", tt.min, err, tt.ok)
		}
		if err := p.Check("k3#Vq9!mZp2w-a-long-password"); !tt.ok && (err == nil || errors.Is(err, ErrPasswordRefused)) {
			t.Errorf("MinLength %d: Check = %v, want the policy's own error", tt.min, err)
		}
	}
}

// TestBreachedList checks the embedded list: lowercase, sorted, no
// duplicate, no entry that no policy would refuse for its length anyway,
// and thousands of entries.
func TestBreachedList(t *testing.T) {
	t.Parallel()
	var prev string
	n := 0
	for line := range strings.Lines(breached) {
		if strings.HasPrefix(line, "#") {
			if n > 0 {
				t.Fatalf("comment %q after the entries", line)
			}
			continue
		}
		e, ok := strings.CutSuffix(line, "\n")
		if !ok {
			t.Fatalf("entry %q does not end with a newline", line)
		}
		if e != strings.ToLower(e) || strings.TrimSpace(e) != e || e <= prev {
			t.Fatalf("entry %q after %q: want lowercase, no surrounding space, sorted, no duplicate", e, prev)
		}
		if l := utf8.RuneCountInString(e); l < LowestMinPasswordLength || l > MaxPasswordLength {
			t.Fatalf("entry %q has %d characters", e, l)
		}
		prev = e
		n++
	}
	if n < 5000 {
		t.Fatalf("%d entries, want thousands", n)
	}
	for _, pw := range []string{"password", "iloveyou", "1qaz2wsx3edc", "qwerty123456", "administrator"} {
		if !isBreached(pw) {
			t.Errorf("%q is not in the list", pw)
		}
	}
}

func FuzzPasswordPolicy(f *testing.F) {
	for _, s := range []string{"x", "password", "qwerty123456", "k3#Vq9!mZp2w", "e\u0301e\u0301", "\xff", strings.Repeat("a", 12)} {
		f.Add(s, 0)
	}
	f.Add("k3#Vq9!m", 8)
	f.Fuzz(func(t *testing.T, pw string, min int) {
		p := PasswordPolicy{MinLength: min}
		err := p.Check(pw)
		if p.Validate() != nil {
			if err == nil || errors.Is(err, ErrPasswordRefused) {
				t.Fatalf("policy %+v out of bounds: Check = %v", p, err)
			}
			return
		}
		if err != nil {
			if !errors.Is(err, ErrPasswordRefused) {
				t.Fatalf("Check(%q) = %v, not ErrPasswordRefused", pw, err)
			}
			return
		}
		l := utf8.RuneCountInString(norm.NFC.String(pw))
		if !utf8.ValidString(pw) || l < p.minLength() || l > MaxPasswordLength || isBreached(strings.ToLower(norm.NFC.String(pw))) {
			t.Fatalf("Check(%q) accepted a password it should refuse", pw)
		}
	})
}

func TestSetPassword(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			store := b.open(t, newClock().Now)
			u, err := NewUser(ctx, store, "alice", "the-first-password", nil, nil, testPassword, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := SetPassword(ctx, store, u.ID, "short", PasswordPolicy{}, testPassword, nil); !errors.Is(err, ErrPasswordRefused) {
				t.Fatalf("SetPassword(short) = %v, want ErrPasswordRefused", err)
			}
			if err := SetPassword(ctx, store, "nobody", "the-second-password", PasswordPolicy{}, testPassword, nil); !errors.Is(err, keyward.ErrNotFound) {
				t.Fatalf("SetPassword(unknown user) = %v, want ErrNotFound", err)
			}
			for pw, want := range map[string]bool{"the-first-password": true, "short": false} {
				got, err := store.GetUser(ctx, u.ID)
				if err != nil {
					t.Fatal(err)
				}
				if ok, err := VerifyPassword(got.PasswordHash, pw); err != nil || ok != want {
					t.Errorf("after a refused change, password %q verifies: %v, %v; want %v", pw, ok, err, want)
				}
			}
			if err := SetPassword(ctx, store, u.ID, "the-second-password", PasswordPolicy{}, testPassword, nil); err != nil {
				t.Fatal(err)
			}
			got, err := store.GetUser(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := VerifyPassword(got.PasswordHash, "the-second-password"); err != nil || !ok {
				t.Errorf("the new password does not verify: %v, %v", ok, err)
			}
		})
	}
}
