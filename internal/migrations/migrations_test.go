package migrations

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
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
			got, err := Load(tt.files)
			if tt.wantErrs != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErrs) {
					t.Fatalf("Load() error = %v, want %q", err, tt.wantErrs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var versions []int
			for _, m := range got {
				versions = append(versions, m.Version)
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
