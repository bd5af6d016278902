package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
)

// t0 is the fixed clock of the in-process tests.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// result is what one keyward run produced.
type result struct {
	code           int
	stdout, stderr string
}

// invocation describes one in-process run of keyward.
type invocation struct {
	env   map[string]string
	stdin string
	now   time.Time // zero means t0
}

// kw runs the command line args in-process with the environment, stdin
// and clock of inv.
func (inv invocation) kw(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	now := inv.now
	if now.IsZero() {
		now = t0
	}
	a := &app{
		stdin:  strings.NewReader(inv.stdin),
		stdout: &stdout,
		stderr: &stderr,
		lookupEnv: func(name string) (string, bool) {
			v, ok := inv.env[name]
			return v, ok
		},
		now: func() time.Time { return now },
	}
	code := a.run(t.Context(), args)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// kw runs args in-process with an empty environment and the clock t0.
func kw(t *testing.T, args ...string) result {
	t.Helper()
	return invocation{}.kw(t, args...)
}

// mustRun runs args in-process and fails the test unless they exit 0.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	r := kw(t, args...)
	if r.code != 0 {
		t.Fatalf("keyward %s: exit %d\nstderr: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// runBinary runs the keyward binary, built once for the package's tests
// (keywardBinary), with args and stdin in dir.
func runBinary(t *testing.T, dir, stdin string, args ...string) result {
	t.Helper()
	return runBinaryEnv(t, dir, nil, args, stdin)
}

// runBinaryEnv is runBinary with extra environment variables (NAME=value).
func runBinaryEnv(t *testing.T, dir string, env []string, args []string, stdin string) result {
	t.Helper()
	binary, err := filepath.Abs(keywardBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(cleanEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("running keyward: %v", err)
		}
		code = ee.ExitCode()
	}
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// cleanEnv is the process environment without KEYWARD_ variables, so that
// the binary's tests don't depend on the caller's.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KEYWARD_") {
			env = append(env, kv)
		}
	}
	return env
}

// testKey returns the path of a pre-generated key under testdata/keys.
func testKey(name string) string {
	return filepath.Join("testdata", "keys", name)
}

// verified is the output of token verify.
type verified struct {
	Header map[string]any `json:"header"`
	Claims map[string]any `json:"claims"`
}

// parseVerified decodes token verify's output.
func parseVerified(t *testing.T, out string) verified {
	t.Helper()
	var v verified
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("token verify output is not JSON: %v\n%s", err, out)
	}
	return v
}

// oneErrorLine checks that stderr is exactly one line starting with prefix.
func oneErrorLine(t *testing.T, stderr, prefix string) {
	t.Helper()
	if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
		t.Errorf("stderr is not one line: %q", stderr)
	}
	if !strings.HasPrefix(stderr, prefix) {
		t.Errorf("stderr = %q, want it to start with %q", stderr, prefix)
	}
}

// tamper changes one character of the given segment (0 header, 1 payload,
// 2 signature) of a compact token, keeping it valid base64url.
func tamper(t *testing.T, token string, segment int) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d segments", len(parts))
	}
	s := []byte(parts[segment])
	// Change a character in the middle, where all six bits are data.
	i := len(s) / 2
	if s[i] == 'A' {
		s[i] = 'B'
	} else {
		s[i] = 'A'
	}
	parts[segment] = string(s)
	return strings.Join(parts, ".")
}
