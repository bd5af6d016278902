package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPolicyWatchRetriesFailedContent writes a policy naming a key file
// that is not there yet, which fails to load, then the key file: the
// policy, whose content has not changed since the failed read, takes
// effect at the next change in the directory rather than being skipped as
// unchanged.
func TestPolicyWatchRetriesFailedContent(t *testing.T) {
	t.Parallel()
	w := newWatchTest(t, 50*time.Millisecond, writeRename)
	w.run(t, true)
	writeRename(t, w, strings.Replace(watchedPolicy(2), "node-public.pem", "next-public.pem", 1))
	w.waitLog(t, "msg=policy_reload_failed", 1)
	if v := w.version(); v != 1 {
		t.Fatalf("v%d in force after a failed load, want v1", v)
	}
	key, err := os.ReadFile(filepath.Join(w.dir, "node-public.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.dir, "next-public.pem"), key, 0o644); err != nil {
		t.Fatal(err)
	}
	w.waitVersion(t, 2)
}
