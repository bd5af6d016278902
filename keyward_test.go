package keyward_test

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// TestLogValueRedactsSecrets logs every type that holds a secret and looks
// for the secret in the output, as text and as the base64 that encodes a
// []byte in JSON; what identifies the value must still be there.
func TestLogValueRedactsSecrets(t *testing.T) {
	t.Parallel()
	const secret = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g"
	leaks := []string{"argon2id", base64.StdEncoding.EncodeToString([]byte(secret))[:24]}
	tests := []struct {
		name  string
		value any
		want  string // in the output
	}{
		{name: "user", value: keyward.User{ID: "u1", Username: "alice", PasswordHash: secret, Attributes: map[string]any{"email": secret}}, want: `"u1"`},
		{name: "client", value: keyward.Client{ID: "c1", SecretHash: secret}, want: `"c1"`},
		{name: "signing key", value: keyward.SigningKey{ID: "k1", PrivateKey: []byte(secret)}, want: `"k1"`},
		{name: "refresh token", value: keyward.RefreshToken{Hash: []byte(secret), FamilyID: "f1"}, want: `"f1"`},
		{name: "auth code", value: keyward.AuthCode{Hash: []byte(secret), Nonce: secret, CodeChallenge: secret, ClientID: "c2"}, want: `"c2"`},
		{name: "session", value: keyward.Session{ID: "s1", UserID: "u2", CookieHash: []byte(secret)}, want: `"session_id":"s1","user_id":"u2"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "v", tt.value)
			out := buf.String()
			for _, leak := range leaks {
				if strings.Contains(out, leak) {
					t.Errorf("log output contains the secret (%q): %s", leak, out)
				}
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("log output lacks %s: %s", tt.want, out)
			}
		})
	}
}

func TestKeyStateValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		state keyward.KeyState
		want  bool
	}{
		{keyward.KeyPending, true},
		{keyward.KeyActive, true},
		{keyward.KeyRetired, true},
		{"", false},
		{"Active", false},
	}
	for _, tt := range tests {
		if got := tt.state.Valid(); got != tt.want {
			t.Errorf("KeyState(%q).Valid() = %v, want %v", tt.state, got, tt.want)
		}
	}
}

func TestSessionActive(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name    string
		session keyward.Session
		want    bool
	}{
		{name: "live", session: keyward.Session{ExpiresAt: now.Add(time.Minute)}, want: true},
		{name: "expires now", session: keyward.Session{ExpiresAt: now}, want: false},
		{name: "revoked", session: keyward.Session{ExpiresAt: now.Add(time.Minute), RevokedAt: now.Add(-time.Second)}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.session.Active(now); got != tt.want {
				t.Errorf("Active() = %v, want %v", got, tt.want)
			}
		})
	}
}
