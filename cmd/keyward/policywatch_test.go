package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/metrics"
)

// watchedPolicy is a policy of the Node recipe's key file with one route,
// named and routed by version, so that the test can tell which file is in
// force.
func watchedPolicy(version int) string {
	return fmt.Sprintf(`issuers:
  node:
    issuer: http://localhost:4000
    key-files: [node-public.pem]
    audiences: [api]
routes:
  - name: v%d
    path: /v%d
`, version, version)
}

// watchTest is a gatePolicy over a file in a temporary directory, its
// reload loop running with the watch on or off.
type watchTest struct {
	dir, path string
	gp        *gatePolicy
	logs      *syncBuffer
	hup       chan os.Signal
}

// newWatchTest writes the first policy with write and loads it.
func newWatchTest(t *testing.T, debounce time.Duration, write func(t *testing.T, w *watchTest, content string)) *watchTest {
	t.Helper()
	w := &watchTest{dir: t.TempDir(), logs: &syncBuffer{}, hup: make(chan os.Signal, 1)}
	w.path = filepath.Join(w.dir, "policy.yaml")
	newNodeIssuer(t, w.dir)
	write(t, w, watchedPolicy(1))
	logger := slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o := &gateOptions{policy: w.path, algs: defaultGateAlgs, leeway: 30 * time.Second, cacheSize: 100,
		revocationsEvery: time.Second, revocationsMaxStale: time.Minute}
	gp, err := newGatePolicy(o, logger, metrics.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	gp.debounce = debounce
	w.gp = gp
	return w
}

// run runs the reload loop until the test ends, and waits for it then.
func (w *watchTest) run(t *testing.T, watch bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.gp.run(ctx, w.hup, watch) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	if watch {
		// The watch is on (or has failed) once the loop has said so.
		w.waitLog(t, "msg=policy_watch", 1)
	}
}

// version returns the version of the policy in force, or 0.
func (w *watchTest) version() int {
	p := w.gp.policies.Policy()
	for v := 1; v < 200; v++ {
		path := fmt.Sprintf("/v%d", v)
		if p.RouteName("GET", path) == path[1:] {
			return v
		}
	}
	return 0
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(5 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("after 5s, still not %s", what)
		}
	}
}

func (w *watchTest) waitVersion(t *testing.T, v int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("policy v%d in force (v%d is; log %s)", v, w.version(), w.logs), func() bool { return w.version() == v })
}

// waitLog waits until the log holds n lines with s.
func (w *watchTest) waitLog(t *testing.T, s string, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d lines with %q in the log %s", n, s, w.logs), func() bool { return strings.Count(w.logs.String(), s) >= n })
}

// writeInPlace rewrites the file, as echo > policy.yaml does.
func writeInPlace(t *testing.T, w *watchTest, content string) {
	t.Helper()
	if err := os.WriteFile(w.path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeRename writes a copy and renames it over the file, as editors and
// configuration tools save.
func writeRename(t *testing.T, w *watchTest, content string) {
	t.Helper()
	tmp := filepath.Join(w.dir, ".policy.yaml.swp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, w.path); err != nil {
		t.Fatal(err)
	}
}

// writeConfigMap updates the file as the kubelet updates a mounted
// ConfigMap: the content goes to a new timestamped directory, and the
// "..data" symlink that policy.yaml goes through is swapped to it by a
// rename.
func writeConfigMap(t *testing.T, w *watchTest, content string) {
	t.Helper()
	gen := filepath.Join(w.dir, fmt.Sprintf("..gen_%d", time.Now().UnixNano()))
	if err := os.Mkdir(gen, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(gen, "policy.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(w.dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(gen), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(w.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(w.path); err != nil {
		if err := os.Symlink(filepath.Join("..data", "policy.yaml"), w.path); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPolicyWatch changes the policy file in the ways files change, and
// checks that each change takes effect without SIGHUP.
func TestPolicyWatch(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		write func(*testing.T, *watchTest, string)
	}{
		{"in place", writeInPlace},
		{"rename over", writeRename},
		{"configmap symlink swap", writeConfigMap},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWatchTest(t, 50*time.Millisecond, tt.write)
			w.run(t, true)
			if v := w.version(); v != 1 {
				t.Fatalf("v%d in force at start", v)
			}
			tt.write(t, w, watchedPolicy(2))
			w.waitVersion(t, 2)
			w.waitLog(t, "msg=policy_reloaded", 1)
			tt.write(t, w, watchedPolicy(3))
			w.waitVersion(t, 3)
		})
	}
}

// TestPolicyWatchBadThenFixed writes a bad file, which keeps the policy in
// force and logs policy_reload_failed with the line, then a fixed one,
// which takes effect.
func TestPolicyWatchBadThenFixed(t *testing.T) {
	t.Parallel()
	w := newWatchTest(t, 50*time.Millisecond, writeRename)
	w.run(t, true)
	writeRename(t, w, strings.Replace(watchedPolicy(2), "audiences:", "audience:", 1))
	w.waitLog(t, "msg=policy_reload_failed", 1)
	if !strings.Contains(w.logs.String(), "line=5") || !strings.Contains(w.logs.String(), "serving_previous_policy=true") {
		t.Errorf("log %s, want policy_reload_failed with line=5", w.logs)
	}
	if v := w.version(); v != 1 {
		t.Fatalf("v%d in force after a bad file, want v1", v)
	}
	writeRename(t, w, watchedPolicy(3))
	w.waitVersion(t, 3)
}

// TestPolicyWatchBurst writes the file many times in a row: the policy is
// reloaded once, with the last content, and the next change once more.
func TestPolicyWatchBurst(t *testing.T) {
	t.Parallel()
	// A long debounce, so that a loaded machine cannot split the burst.
	w := newWatchTest(t, time.Second, writeInPlace)
	w.run(t, true)
	const last = 60
	for v := 2; v <= last; v++ {
		writeInPlace(t, w, watchedPolicy(v))
	}
	w.waitVersion(t, last)
	w.waitLog(t, "msg=policy_reloaded", 1)
	writeInPlace(t, w, watchedPolicy(last+1))
	w.waitVersion(t, last+1)
	w.waitLog(t, "msg=policy_reloaded", 2)
	if n := strings.Count(w.logs.String(), "msg=policy_reloaded"); n != 2 {
		t.Errorf("%d reloads for a burst and one change, want 2: %s", n, w.logs)
	}
}

// TestPolicyWatchUnchanged touches the file and rewrites it with the same
// content: nothing is reloaded.
func TestPolicyWatchUnchanged(t *testing.T) {
	t.Parallel()
	w := newWatchTest(t, 50*time.Millisecond, writeInPlace)
	w.run(t, true)
	writeInPlace(t, w, watchedPolicy(1))
	now := time.Now()
	if err := os.Chtimes(w.path, now, now); err != nil {
		t.Fatal(err)
	}
	w.waitLog(t, "msg=policy_unchanged", 1)
	if strings.Contains(w.logs.String(), "msg=policy_reloaded") {
		t.Errorf("reloaded an unchanged file: %s", w.logs)
	}
	// SIGHUP reloads even an unchanged file: key files may have changed.
	w.hup <- syscall.SIGHUP
	w.waitLog(t, "msg=policy_reloaded", 1)
}

// TestPolicyWatchOff runs with --policy-watch=false: no watch, and SIGHUP
// reloads.
func TestPolicyWatchOff(t *testing.T) {
	t.Parallel()
	w := newWatchTest(t, 50*time.Millisecond, writeInPlace)
	w.run(t, false)
	writeInPlace(t, w, watchedPolicy(2))
	w.hup <- syscall.SIGHUP
	w.waitVersion(t, 2)
	if strings.Contains(w.logs.String(), "policy_watch") {
		t.Errorf("a watch with --policy-watch=false: %s", w.logs)
	}
}

// TestPolicyWatchFails starts the loop while the file's directory is
// gone, so that the watch cannot start: a warning, and SIGHUP still
// reloads.
func TestPolicyWatchFails(t *testing.T) {
	t.Parallel()
	w := newWatchTest(t, 50*time.Millisecond, writeInPlace)
	moved := w.dir + ".moved"
	if err := os.Rename(w.dir, moved); err != nil {
		t.Fatal(err)
	}
	w.run(t, true)
	if !strings.Contains(w.logs.String(), "level=WARN msg=policy_watch_failed") {
		t.Errorf("log %s, want a policy_watch_failed warning", w.logs)
	}
	if err := os.Rename(moved, w.dir); err != nil {
		t.Fatal(err)
	}
	writeInPlace(t, w, watchedPolicy(2))
	w.hup <- syscall.SIGHUP
	w.waitVersion(t, 2)
}
