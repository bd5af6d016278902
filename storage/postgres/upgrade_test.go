package postgres_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyward/keyward/internal/pgtest"
)

// TestUpgradeSessions brings a database to schema version 2 with sessions
// named by the hex SHA-256 of their cookie, as the releases before version 3
// named them, then opens it: each session is found by its cookie hash and has
// its creation as its last login. A session written afterwards by such a
// release (a replica not yet upgraded), without the new columns, still reads
// back.
func TestUpgradeSessions(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	conn := connect(t, dsn)
	ctx := t.Context()
	sum := sha256.Sum256([]byte("legacy cookie"))
	legacyID := hex.EncodeToString(sum[:])
	if _, err := conn.Exec(ctx, `CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"0001_init.sql", "0002_id_token_keys.sql"} {
		b, err := os.ReadFile(filepath.Join("migrations", name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, string(b)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	for _, q := range []string{
		`INSERT INTO schema_migrations (version, name, applied_at) VALUES (1, '0001_init.sql', now()), (2, '0002_id_token_keys.sql', now())`,
		`INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES ('` + legacyID + `', 'u1', '2030-01-01T00:00:00Z', '2030-01-01T08:00:00Z')`,
		`INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES ('not hex', 'u2', '2030-01-01T00:00:00Z', '2030-01-01T08:00:00Z')`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s := open(t, dsn)
	got, err := s.GetSessionByCookie(ctx, sum[:])
	if err != nil || got.ID != legacyID || got.UserID != "u1" || !got.AuthTime.Equal(got.CreatedAt) || got.CreatedAt.Year() != 2030 {
		t.Fatalf("legacy session by its cookie: %+v, %v", got, err)
	}
	if got, err := s.GetSession(ctx, "not hex"); err != nil || string(got.CookieHash) != "not hex" {
		t.Fatalf("session with a non-hex id: %+v, %v", got, err)
	}
	for _, id := range []string{"old-1", "old-2"} {
		if _, err := conn.Exec(ctx, `INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES ($1, 'u3', now(), now() + interval '1 hour')`, id); err != nil {
			t.Fatalf("a session written without the new columns: %v", err)
		}
		got, err := s.GetSession(ctx, id)
		if err != nil || got.CookieHash != nil || !got.AuthTime.Equal(got.CreatedAt) {
			t.Fatalf("a session written without the new columns reads back as %+v, %v", got, err)
		}
	}
}
