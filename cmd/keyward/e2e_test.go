package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestBinaryRecipe runs the classic recipe with the real binary, as a user
// types it, in a fresh directory.
func TestBinaryRecipe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := runBinary(t, dir, "", "keygen", "--alg", "RS256", "--out", "private.pem", "--pub", "public.pem")
	if r.code != 0 || strings.TrimSpace(r.stdout) == "" {
		t.Fatalf("keygen: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if fi, err := os.Stat(filepath.Join(dir, "private.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private.pem: %v %v, want mode 0600", fi, err)
	}
	r = runBinary(t, dir, "", "token", "sign", "--key", "private.pem", "--ttl", "1h",
		"--claim", "userId=123", "--claim", "email=user@example.com", "--claim", "role=admin")
	if r.code != 0 {
		t.Fatalf("token sign: exit %d, %s", r.code, r.stderr)
	}
	token := strings.TrimSpace(r.stdout)

	r = runBinary(t, dir, "", "token", "verify", "--key", "public.pem", token)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("token verify: exit %d, stderr %q", r.code, r.stderr)
	}
	v := parseVerified(t, r.stdout)
	if v.Claims["userId"] != 123.0 || v.Claims["email"] != "user@example.com" || v.Claims["role"] != "admin" {
		t.Errorf("claims %v", v.Claims)
	}

	// The token from stdin, and a tampered one.
	if r := runBinary(t, dir, token+"\n", "token", "verify", "--key", "public.pem", "-"); r.code != 0 {
		t.Errorf("token verify -: exit %d, %s", r.code, r.stderr)
	}
	r = runBinary(t, dir, "", "token", "verify", "--key", "public.pem", tamper(t, token, 1))
	if r.code != 1 || r.stdout != "" {
		t.Errorf("tampered: exit %d, stdout %q", r.code, r.stdout)
	}
	oneErrorLine(t, r.stderr, "keyward: token rejected: invalid signature")

	// Flags from the process environment.
	r = runBinaryEnv(t, dir, []string{"KEYWARD_KEY=public.pem", "KEYWARD_AUD=api", "KEYWARD_EXPLAIN=1"}, []string{"token", "verify", token}, "")
	if r.code != 1 || !strings.Contains(r.stderr, "want api") {
		t.Errorf("KEYWARD_AUD: exit %d, %q", r.code, r.stderr)
	}

	// Bad usage, and a key that already exists.
	r = runBinary(t, dir, "", "token", "verify", "--bogus", token)
	if r.code != 2 {
		t.Errorf("unknown flag: exit %d, want 2", r.code)
	}
	oneErrorLine(t, r.stderr, "keyward: unknown flag: --bogus")
	r = runBinary(t, dir, "", "keygen", "--out", "private.pem")
	if r.code != 1 {
		t.Errorf("keygen over private.pem: exit %d, want 1", r.code)
	}
	oneErrorLine(t, r.stderr, "keyward: private.pem already exists")
}

// TestBinaryVersion checks keyward version on the real binary.
func TestBinaryVersion(t *testing.T) {
	t.Parallel()
	r := runBinary(t, t.TempDir(), "", "version")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if !strings.HasPrefix(lines[0], "keyward ") {
		t.Errorf("first line %q, want keyward and a version", lines[0])
	}
	if last := lines[len(lines)-1]; last != runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("last line %q, want the Go version and platform", last)
	}
}
