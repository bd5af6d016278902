package sqlite

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"path/filepath"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/migrations"
)

// TestUpgradeFromVersion1 opens a database left at schema version 1 with a
// key and a client in it: the later migrations apply, and the rows read
// back as primary keys and clients without an ID-token algorithm.
func TestUpgradeFromVersion1(t *testing.T) {
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
	for _, q := range []string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`,
		ms[0].SQL,
		`INSERT INTO schema_migrations (version, name, applied_at) VALUES (1, '0001_init.sql', 0)`,
		`INSERT INTO signing_keys (id, algorithm, state, created_at) VALUES ('k1', 'ES256', 'active', 1)`,
		`INSERT INTO clients (id, name, secret_hash, public, redirect_uris, grant_types, scopes, audience, jwks_url, created_at)
			VALUES ('c1', 'web', '', 1, '[]', '[]', '[]', '', '', 1)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
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
	keys, err := s.ListKeys(t.Context())
	if err != nil || len(keys) != 1 || keys[0].Purpose != keyward.KeyPurposePrimary || keys[0].Algorithm != "ES256" {
		t.Fatalf("keys after the upgrade: %+v, %v", keys, err)
	}
	c, err := s.GetClient(t.Context(), "c1")
	if err != nil || c.IDTokenSignedResponseAlg != "" || !c.Public {
		t.Fatalf("client after the upgrade: %+v, %v", c, err)
	}
	err = s.UpdateKeys(t.Context(), func(cur []keyward.SigningKey) ([]keyward.SigningKey, error) {
		cur[0].Purpose = keyward.KeyPurposeIDToken
		return cur, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if keys, _ := s.ListKeys(t.Context()); keys[0].Purpose != keyward.KeyPurposeIDToken {
		t.Fatalf("purpose not stored: %+v", keys)
	}
}

// TestUpgradeSessions opens a database left at schema version 2 with
// sessions named by the hex SHA-256 of their cookie, as the releases before
// version 3 named them: each is found by its cookie hash and has its
// creation as its last login. A session written afterwards by such a
// release, without the new columns, still reads back.
func TestUpgradeSessions(t *testing.T) {
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
	t.Cleanup(func() { _ = db.Close() })
	sum := sha256.Sum256([]byte("legacy cookie"))
	legacyID := hex.EncodeToString(sum[:])
	for _, q := range []string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`,
		ms[0].SQL,
		ms[1].SQL,
		`INSERT INTO schema_migrations (version, name, applied_at) VALUES (1, '0001_init.sql', 0), (2, '0002_id_token_keys.sql', 0)`,
		`INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES ('` + legacyID + `', 'u1', 1000000, 9000000)`,
		`INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES ('not hex', 'u2', 1000000, 9000000)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s, err := Open(t.Context(), Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	got, err := s.GetSessionByCookie(t.Context(), sum[:])
	if err != nil || got.ID != legacyID || got.UserID != "u1" || !got.AuthTime.Equal(got.CreatedAt) || got.CreatedAt.UnixMicro() != 1000000 {
		t.Fatalf("legacy session by its cookie: %+v, %v", got, err)
	}
	if got, err := s.GetSession(t.Context(), "not hex"); err != nil || string(got.CookieHash) != "not hex" {
		t.Fatalf("session with a non-hex id: %+v, %v", got, err)
	}
	for _, id := range []string{"old-1", "old-2"} {
		if _, err := db.Exec(`INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES (?, 'u3', 2000000, 9000000)`, id); err != nil {
			t.Fatalf("a session written without the new columns: %v", err)
		}
		got, err := s.GetSession(t.Context(), id)
		if err != nil || got.CookieHash != nil || !got.AuthTime.Equal(got.CreatedAt) {
			t.Fatalf("a session written without the new columns reads back as %+v, %v", got, err)
		}
	}
}
