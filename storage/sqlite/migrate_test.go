package sqlite

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoadMigrations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		files    fstest.MapFS
		want     []int
		wantErrs string
	}{
		{
			name:  "ordered by version",
			files: fstest.MapFS{"migrations/0010_b.sql": {}, "migrations/0002_a.sql": {}, "migrations/0001_init.sql": {}},
			want:  []int{1, 2, 10},
		},
		{name: "no version", files: fstest.MapFS{"migrations/init.sql": {}}, wantErrs: "positive version"},
		{name: "zero version", files: fstest.MapFS{"migrations/0000_x.sql": {}}, wantErrs: "positive version"},
		{name: "duplicate version", files: fstest.MapFS{"migrations/0001_a.sql": {}, "migrations/01_b.sql": {}}, wantErrs: "share a version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := loadMigrations(tt.files)
			if tt.wantErrs != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErrs) {
					t.Fatalf("loadMigrations() error = %v, want %q", err, tt.wantErrs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var versions []int
			for _, m := range got {
				versions = append(versions, m.version)
			}
			if len(versions) != len(tt.want) {
				t.Fatalf("versions = %v, want %v", versions, tt.want)
			}
			for i := range versions {
				if versions[i] != tt.want[i] {
					t.Fatalf("versions = %v, want %v", versions, tt.want)
				}
			}
		})
	}
}

func TestEmbeddedMigrations(t *testing.T) {
	t.Parallel()
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].version != 1 {
		t.Fatalf("embedded migrations = %+v, want them to start at version 1", ms)
	}
}
