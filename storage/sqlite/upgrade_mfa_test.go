package sqlite

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/migrations"
)

// TestUpgradeToMFA opens a database left before migration 0010 with a
// user, a session and a code in it: they read back with no second factor
// required, no authentication methods recorded and no last use, and the
// session takes methods afterwards.
func TestUpgradeToMFA(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keyward.db")
	ms, err := migrations.Load(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`}
	for _, m := range ms {
		if m.Version >= 10 {
			break
		}
		stmts = append(stmts, m.SQL, fmt.Sprintf(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (%d, '%s', 0)`, m.Version, m.Name))
	}
	stmts = append(stmts,
		`INSERT INTO users (id, username, password_hash, roles, attributes, disabled, created_at, updated_at) VALUES ('u1', 'alice', 'x', '[]', '{}', 0, 1, 1)`,
		`INSERT INTO sessions (id, cookie_hash, user_id, created_at, auth_time, expires_at) VALUES ('s1', x'01', 'u1', 1, 1, 9000000000000000)`,
		`INSERT INTO auth_codes (hash, client_id, user_id, redirect_uri, scope, nonce, code_challenge, code_challenge_method, session_id, auth_time, expires_at)
			VALUES (x'02', 'c', 'u1', 'https://a/cb', 'openid', '', '', '', 's1', 1, 9000000000000000)`)
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(t.Context(), Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	u, err := s.GetUser(t.Context(), "u1")
	if err != nil || u.RequireMFA {
		t.Fatalf("user after the upgrade: %+v, %v", u, err)
	}
	sess, err := s.GetSession(t.Context(), "s1")
	if err != nil || sess.AMR != nil || sess.ACR != "" || !sess.LastUsedAt.IsZero() || sess.Device != "" {
		t.Fatalf("session after the upgrade: %+v, %v", sess, err)
	}
	c, err := s.ConsumeAuthCode(t.Context(), []byte{2}, sess.CreatedAt)
	if err != nil || c.AMR != nil || c.ACR != "" {
		t.Fatalf("code after the upgrade: %+v, %v", c, err)
	}
	err = s.UpdateSession(t.Context(), "s1", func(v *keyward.Session) error {
		v.AMR, v.ACR = []string{"pwd", "otp", "mfa"}, "urn:keyward:acr:mfa"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if sess, _ := s.GetSession(t.Context(), "s1"); len(sess.AMR) != 3 || sess.ACR != "urn:keyward:acr:mfa" {
		t.Fatalf("session methods not stored after the upgrade: %+v", sess)
	}
}
