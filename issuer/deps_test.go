package issuer

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the promise of the package documentation: the
// issuer knows neither HTTP nor SQL. It sees storage through the
// keyward.Store interfaces and leaves requests to package server.
func TestDependencies(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	forbidden := []string{"net/http", "database/sql", "modernc.org", "github.com/jackc",
		"github.com/keyward/keyward/server", "github.com/keyward/keyward/storage", "github.com/keyward/keyward/gate",
		"github.com/keyward/keyward/verifier", "github.com/keyward/keyward/cmd", "github.com/keyward/keyward/internal/httpx"}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("issuer depends on %s", dep)
			}
		}
	}
}
