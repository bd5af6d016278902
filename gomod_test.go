package keyward_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestGoModHasNoTestOnlyPeers keeps the main module's go.mod honest: it
// requires only what the product links. The JOSE, OAuth and OIDC libraries
// and the browser driver that the differential and client-library tests run
// against belong to the interop module (interop/go.mod), the OAuth client of
// the service-to-service example to the examples module, and the comparison
// servers of the load benchmarks to the bench module. A service importing
// keyward then downloads none of them.
func TestGoModHasNoTestOnlyPeers(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs go mod edit")
	}
	out, err := exec.CommandContext(t.Context(), "go", "mod", "edit", "-json").Output()
	if err != nil {
		t.Fatalf("go mod edit -json: %v", err)
	}
	var mod struct {
		Module  struct{ Path string }
		Require []struct {
			Path     string
			Indirect bool
		}
	}
	if err := json.Unmarshal(out, &mod); err != nil {
		t.Fatal(err)
	}
	if mod.Module.Path != "github.com/keyward/keyward" {
		t.Fatalf("go mod edit read the go.mod of %q, want the main module", mod.Module.Path)
	}
	peers := []string{
		"github.com/lestrrat-go/",
		"github.com/go-jose/",
		"github.com/golang-jwt/",
		"github.com/coreos/go-oidc",
		"github.com/chromedp/",
		"golang.org/x/oauth2",
		"github.com/MicahParks/",
	}
	for _, r := range mod.Require {
		if r.Indirect {
			// Required by a product dependency (go-webauthn's metadata
			// parser links golang-jwt), not by keyward's own code.
			continue
		}
		for _, p := range peers {
			if strings.HasPrefix(r.Path, p) {
				t.Errorf("go.mod requires %s, a test-only peer: the tests that use it belong to a nested module", r.Path)
			}
		}
	}
}
