package keyward_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func TestLogValueRedactsSecrets(t *testing.T) {
	t.Parallel()
	const secret = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g"
	tests := []struct {
		name  string
		value any
	}{
		{name: "user", value: keyward.User{ID: "u1", Username: "alice", PasswordHash: secret, Attributes: map[string]any{"email": secret}}},
		{name: "client", value: keyward.Client{ID: "c1", SecretHash: secret}},
		{name: "signing key", value: keyward.SigningKey{ID: "k1", PrivateKey: []byte(secret)}},
		{name: "refresh token", value: keyward.RefreshToken{Hash: []byte(secret), FamilyID: "f"}},
		{name: "auth code", value: keyward.AuthCode{Hash: []byte(secret), Nonce: secret, CodeChallenge: secret}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "v", tt.value)
			if strings.Contains(buf.String(), "argon2id") {
				t.Errorf("log output contains the secret: %s", buf.String())
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
