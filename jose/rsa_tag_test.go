package jose

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestRSABuildTag checks the switch of the prepared RSA path: by default
// package jose links filippo.io/bigmod, and built with the keyward_nobigmod
// tag it does not, so that RS* signatures are checked by crypto/rsa alone.
func TestRSABuildTag(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs go list")
	}
	deps := func(t *testing.T, args ...string) []string {
		t.Helper()
		out, err := exec.CommandContext(t.Context(), "go", append(append([]string{"list", "-deps"}, args...), ".")...).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", strings.Join(args, " "), err)
		}
		return strings.Fields(string(out))
	}
	if !slices.Contains(deps(t), "filippo.io/bigmod") {
		t.Error("package jose does not link filippo.io/bigmod by default")
	}
	if slices.Contains(deps(t, "-tags", "keyward_nobigmod"), "filippo.io/bigmod") {
		t.Error("package jose links filippo.io/bigmod with -tags keyward_nobigmod")
	}
}
