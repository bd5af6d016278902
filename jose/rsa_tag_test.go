package jose

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestRSABuildTag checks the switch of the prepared RSA path: by default
// package jose builds its own Montgomery arithmetic (rsamont*.go, and its
// assembly on amd64), and built with the keyward_nobigmod tag it builds none
// of it and links neither golang.org/x/sys/cpu nor filippo.io/bigmod, so
// that RS* signatures are checked by crypto/rsa alone.
func TestRSABuildTag(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs go list")
	}
	list := func(t *testing.T, format string, args ...string) []string {
		t.Helper()
		cmd := append(append([]string{"list", "-f", format}, args...), ".")
		out, err := exec.CommandContext(t.Context(), "go", cmd...).Output()
		if err != nil {
			t.Fatalf("go %s: %v", strings.Join(cmd, " "), err)
		}
		return strings.Fields(string(out))
	}
	const files = `{{join .GoFiles " "}} {{join .SFiles " "}}`
	const deps = `{{join .Deps " "}}`
	if !slices.Contains(list(t, files), "rsamont.go") {
		t.Error("package jose does not build rsamont.go by default")
	}
	tagged := []string{"-tags", "keyward_nobigmod"}
	for _, f := range list(t, files, tagged...) {
		if strings.HasPrefix(f, "rsamont") {
			t.Errorf("package jose builds %s with -tags keyward_nobigmod", f)
		}
	}
	for _, args := range [][]string{nil, tagged} {
		if slices.Contains(list(t, deps, args...), "filippo.io/bigmod") {
			t.Errorf("package jose links filippo.io/bigmod (go list %s)", strings.Join(args, " "))
		}
	}
	if slices.Contains(list(t, deps, tagged...), "golang.org/x/sys/cpu") {
		t.Error("package jose links golang.org/x/sys/cpu with -tags keyward_nobigmod")
	}
}
