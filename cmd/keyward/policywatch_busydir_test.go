package main

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestPolicyWatchBusyDirectory changes the policy while another file of
// its directory (a log, a lease) is written every 10 ms, more often than
// the quiet time the watch waits for: the new policy still takes effect
// within the bound of policyMaxWait, rather than once the other writer
// stops.
func TestPolicyWatchBusyDirectory(t *testing.T) {
	t.Parallel()
	const debounce = 100 * time.Millisecond
	w := newWatchTest(t, debounce, writeRename)
	w.run(t, true)
	writeRename(t, w, watchedPolicy(2))
	other := filepath.Join(w.dir, "other.log")
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	// Bounded: 400 writes over about 4 s, ten times policyMaxWait.
	for i := 0; i < 400 && w.version() != 2; i++ {
		if err := os.WriteFile(other, []byte(strconv.Itoa(i)), 0o644); err != nil {
			t.Fatal(err)
		}
		<-tick.C
	}
	if v := w.version(); v != 2 {
		t.Fatalf("v%d in force while another file of the directory is being written, want v2", v)
	}
}
