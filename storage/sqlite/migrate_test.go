package sqlite

import (
	"testing"

	"github.com/keyward/keyward/internal/migrations"
)

func TestEmbeddedMigrations(t *testing.T) {
	t.Parallel()
	ms, err := migrations.Load(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].Version != 1 {
		t.Fatalf("embedded migrations = %+v, want them to start at version 1", ms)
	}
}
