package issuer

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestDependencies keeps the promise of the package documentation: the
// issuer knows neither HTTP nor SQL. It sees storage through the
// keyward.Store interfaces and leaves requests to package server. The
// WebAuthn library it uses for passkeys is the one exception: what it
// links is allowed, as long as the issuer does not import it itself.
func TestDependencies(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs go list")
	}
	list := func(args ...string) []string {
		t.Helper()
		out, err := exec.CommandContext(t.Context(), "go", append([]string{"list"}, args...)...).Output()
		if err != nil {
			t.Fatalf("go list %v: %v", args, err)
		}
		return strings.Fields(string(out))
	}
	forbidden := []string{"net/http", "database/sql", "modernc.org", "github.com/jackc",
		"github.com/keyward/keyward/server", "github.com/keyward/keyward/storage", "github.com/keyward/keyward/gate",
		"github.com/keyward/keyward/verifier", "github.com/keyward/keyward/cmd", "github.com/keyward/keyward/internal/httpx"}
	// The WebAuthn library links net/http for request helpers the issuer
	// never calls, and database/sql/driver through its UUIDs: what it
	// depends on is allowed among the issuer's dependencies, never among
	// the issuer's own imports.
	library := map[string]bool{}
	for _, dep := range list("-deps", "github.com/go-webauthn/webauthn/webauthn") {
		library[dep] = true
	}
	imports := list("-f", `{{join .Imports " "}}`, ".")
	for _, dep := range list("-deps", ".") {
		for _, f := range forbidden {
			if (dep == f || strings.HasPrefix(dep, f+"/")) && (!library[dep] || slices.Contains(imports, dep)) {
				t.Errorf("issuer depends on %s", dep)
			}
		}
	}
}
