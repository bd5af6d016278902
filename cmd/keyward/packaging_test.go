package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
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

// TestScratchImage builds the FROM scratch image of
// packaging/scratch-image.sh with podman, in a storage root of its own,
// runs "keyward serve" in it as the image's non-root user and waits for
// /readyz to answer 200: the image holds what the binary needs, and /data
// belongs to that user. It needs podman (and, on hosts where crun cannot
// run containers, runc); it skips without podman unless
// KEYWARD_REQUIRE_PODMAN=1. KEYWARD_PODMAN_RUN_FLAGS replaces the flags it
// adds to "podman run" (default: runc when installed, lowered ulimits).
func TestScratchImage(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs a container image")
	}
	podman, err := exec.LookPath("podman")
	if err != nil {
		if os.Getenv("KEYWARD_REQUIRE_PODMAN") == "1" {
			t.Fatal("KEYWARD_REQUIRE_PODMAN=1 but podman is not on PATH (apt-get install podman runc)")
		}
		t.Skip("podman is not on PATH")
	}
	dir := t.TempDir()
	global := []string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"), "--storage-driver", "vfs"}
	runFlags := strings.Fields(os.Getenv("KEYWARD_PODMAN_RUN_FLAGS"))
	if len(runFlags) == 0 {
		runFlags = []string{"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"}
		if _, err := exec.LookPath("runc"); err == nil {
			runFlags = append(runFlags, "--runtime", "runc")
		}
	}
	const tag = "localhost/keyward-test:scratch"
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "sh", filepath.Join("..", "..", "packaging", "scratch-image.sh"), tag)
	build.Env = append(os.Environ(), "ENGINE="+podman, "ENGINE_FLAGS="+strings.Join(global, " "),
		"VERSION=v0.0.0-imagetest", "COMMIT=0123456789abcdef")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("packaging/scratch-image.sh: %v\n%s", err, out)
	}
	podmanCmd := func(args ...string) *exec.Cmd {
		return exec.CommandContext(ctx, podman, append(slices.Clone(global), args...)...)
	}

	out, err := podmanCmd(append(append([]string{"run", "--rm"}, runFlags...), tag, "version")...).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "keyward ") {
		t.Fatalf("keyward version in the image: %v\n%s", err, out)
	}

	port := freePort(t)
	name := fmt.Sprintf("keyward-test-%d", port)
	args := append(append([]string{"run", "--rm", "--name", name, "--network", "host"}, runFlags...),
		tag, "serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data", "/data")
	var logs syncBuffer
	srv := podmanCmd(args...)
	srv.Stdout, srv.Stderr = &logs, &logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = exec.CommandContext(stopCtx, podman, append(slices.Clone(global), "stop", "-t", "5", name)...).Run()
		select {
		case <-exited:
		case <-stopCtx.Done():
			_ = srv.Process.Kill()
		}
	}()

	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", port))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("the container exited: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not 200 within 60 s (last: %v)\n%s", err, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The admin user exists in the store under /data, which the image's
	// user owns: the CLI in the same container reads it.
	out, err = podmanCmd("exec", name, "/keyward", "user", "list", "--data", "/data").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "admin") {
		t.Errorf("keyward user list in the container: %v\n%s\n%s", err, out, logs.String())
	}
}

// freePort returns a TCP port free on 127.0.0.1 a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
