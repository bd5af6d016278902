package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnit checks packaging/keyward.service with systemd-analyze
// verify, its ExecStart pointed at the binary built for the tests: every
// directive must be known to this systemd and the command must exist. It
// skips without systemd-analyze unless KEYWARD_REQUIRE_SYSTEMD=1.
func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("KEYWARD_REQUIRE_SYSTEMD") == "1" {
			t.Fatal("KEYWARD_REQUIRE_SYSTEMD=1 but systemd-analyze is not on PATH (apt-get install systemd)")
		}
		t.Skip("systemd-analyze is not on PATH")
	}
	unit, err := os.ReadFile(filepath.Join("..", "..", "packaging", "keyward.service"))
	if err != nil {
		t.Fatal(err)
	}
	const installed = "ExecStart=/usr/local/bin/keyward "
	if !strings.Contains(string(unit), installed) {
		t.Fatalf("the unit no longer starts %q; update this test", installed)
	}
	bin := keywardBinary(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "keyward.service")
	if err := os.WriteFile(path, []byte(strings.Replace(string(unit), installed, "ExecStart="+bin+" ", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), analyze, "verify", path).CombinedOutput()
	// systemd-analyze also reports on units the file names but this
	// machine lacks (network-online.target is always there); any line about
	// keyward.service itself is a finding.
	var findings []string
	for line := range strings.Lines(string(out)) {
		if strings.Contains(line, "keyward.service") {
			findings = append(findings, strings.TrimSpace(line))
		}
	}
	if err != nil || len(findings) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
