//go:build !linux

package jose_test

import "time"

// benchClock returns a wall clock where a thread CPU clock is not at hand.
func benchClock() (now func() time.Duration, done func()) {
	start := time.Now()
	return func() time.Duration { return time.Since(start) }, func() {}
}
