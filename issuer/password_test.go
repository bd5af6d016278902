package issuer

import (
	"bytes"
	"errors"
	"strings"
	"testing"
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
