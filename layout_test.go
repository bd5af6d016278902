package keyward_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayout keeps the dependency direction that each package's
// documentation states (cmd → server → issuer → keyward → jose; cmd →
// storage/* → keyward; cmd → gate → verifier → jwks → jose): no package
// depends, directly or through another, on what its documentation says it
// must never import. Test files are not counted.
func TestLayout(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs go list")
	}
	const m = "github.com/keyward/keyward"
	var (
		sql          = []string{"database/sql", "modernc.org/", "github.com/jackc/"}
		backends     = []string{m + "/storage/memory", m + "/storage/sqlite", m + "/storage/postgres"}
		verifierSide = []string{m + "/verifier", m + "/jwks", m + "/gate"}
	)
	join := func(lists ...[]string) []string {
		var out []string
		for _, l := range lists {
			out = append(out, l...)
		}
		return out
	}
	forbidden := map[string][]string{
		m:                          join(sql, backends, verifierSide, []string{m + "/issuer", m + "/server", "net/http"}),
		m + "/jose":                {m + "/"},
		m + "/dpop":                join(sql, backends, verifierSide, []string{m + "/issuer", m + "/server", m + "/cmd/", m + "/internal/"}),
		m + "/jwks":                join(sql, backends, []string{m + "/verifier", m + "/gate", m + "/issuer", m + "/server"}),
		m + "/verifier":            join(sql, backends, []string{m + "/gate", m + "/issuer", m + "/server"}),
		m + "/gate":                join(sql, backends, []string{m + "/issuer", m + "/server"}),
		m + "/issuer":              join(sql, backends, []string{m + "/verifier", m + "/gate", m + "/server", m + "/cmd/"}),
		m + "/server":              join(sql, backends, []string{m + "/gate", m + "/cmd/"}),
		m + "/storage/sqlite":      join(verifierSide, []string{m + "/issuer", m + "/server", m + "/storage/postgres", m + "/storage/memory"}),
		m + "/storage/postgres":    join(verifierSide, []string{m + "/issuer", m + "/server", m + "/storage/sqlite", m + "/storage/memory"}),
		m + "/storage/storagetest": join(backends, verifierSide, []string{m + "/issuer", m + "/server"}),
		m + "/internal/cli":        join(backends, []string{m + "/verifier", m + "/gate", m + "/issuer", m + "/server"}),
		m + "/internal/config":     {m + "/"},
		m + "/internal/httpx":      {m + "/"},
		m + "/internal/migrations": join(sql, []string{m + "/"}),
		m + "/internal/metrics":    join(backends, []string{m + "/gate", m + "/server"}),
		m + "/internal/pgtest":     {m + "/"},
	}
	out, err := exec.CommandContext(t.Context(), "go", "list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		pkg, deps := fields[0], fields[1:]
		rules, ok := forbidden[pkg]
		if !ok {
			continue
		}
		checked++
		for _, dep := range deps {
			if dep == "database/sql/driver" {
				// Interfaces only, which UUID libraries implement (the
				// WebAuthn library's among them): no driver, no database.
				continue
			}
			for _, f := range rules {
				if dep == f || strings.HasPrefix(dep, f) && (strings.HasSuffix(f, "/") || strings.HasPrefix(dep, f+"/")) {
					t.Errorf("%s depends on %s, which its package documentation forbids", pkg, dep)
				}
			}
		}
	}
	if checked != len(forbidden) {
		t.Errorf("go list listed %d of the %d packages with rules: a package moved or was renamed", checked, len(forbidden))
	}
}
