package main

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionText(t *testing.T) {
	t.Parallel()
	stamped := &debug.BuildInfo{
		Main: debug.Module{Version: "v1.4.0"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "abc123"},
			{Key: "vcs.time", Value: "2026-11-30T10:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	devel := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}
	tests := []struct {
		name          string
		info          *debug.BuildInfo
		linkV, linkC  string
		wantFirstLine string
		wantCommit    string // "" means no commit line
	}{
		{"stamped build wins over linked values", stamped, "v9", "fff", "keyward v1.4.0", "commit abc123 (2026-11-30T10:00:00Z) with local changes"},
		{"devel build falls back to linked values", devel, "v1.5.0", "def456", "keyward v1.5.0", "commit def456"},
		{"no build info, linked values", nil, "v1.5.0", "def456", "keyward v1.5.0", "commit def456"},
		{"devel build, nothing linked", devel, "", "", "keyward (devel)", ""},
		{"no build info, nothing linked", nil, "", "", "keyward (devel)", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lines := strings.Split(strings.TrimSuffix(versionText(tt.info, tt.linkV, tt.linkC), "\n"), "\n")
			if lines[0] != tt.wantFirstLine {
				t.Errorf("first line %q, want %q", lines[0], tt.wantFirstLine)
			}
			if tt.wantCommit == "" {
				if len(lines) != 2 {
					t.Errorf("lines %q, want the version and the toolchain only", lines)
				}
			} else if len(lines) != 3 || lines[1] != tt.wantCommit {
				t.Errorf("lines %q, want commit line %q", lines, tt.wantCommit)
			}
			if last := lines[len(lines)-1]; last != runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH {
				t.Errorf("last line %q, want the toolchain", last)
			}
		})
	}
}
