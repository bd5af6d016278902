package sqlite

import (
	"database/sql"
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
