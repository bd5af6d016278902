package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestPolicyWatchFollowsRelinkedFile points the policy file's symlink at a
// file in another directory, then writes that file in place: the watch
// follows the symlink to its new directory, as it watched the first one.
func TestPolicyWatchFollowsRelinkedFile(t *testing.T) {
	t.Parallel()
	var first, second string
	link := func(t *testing.T, w *watchTest, target string) {
		t.Helper()
		tmp := filepath.Join(w.dir, ".policy.yaml.link")
		if err := os.Symlink(target, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, w.path); err != nil {
			t.Fatal(err)
		}
	}
	w := newWatchTest(t, 50*time.Millisecond, func(t *testing.T, w *watchTest, content string) {
		t.Helper()
		first = filepath.Join(t.TempDir(), "policy.yaml")
		if err := os.WriteFile(first, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		link(t, w, first)
	})
	w.run(t, true)
	second = filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(second, []byte(watchedPolicy(2)), 0o644); err != nil {
		t.Fatal(err)
	}
	link(t, w, second)
	w.waitVersion(t, 2)
	if err := os.WriteFile(second, []byte(watchedPolicy(3)), 0o644); err != nil {
		t.Fatal(err)
	}
	w.waitVersion(t, 3)
}
