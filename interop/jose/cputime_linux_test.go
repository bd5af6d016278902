package jose_test

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// benchClock returns a clock of the CPU time the calling thread has used,
// and a function to call when done. The goroutine is locked to its thread,
// so the clock measures only its own work: on a shared machine a verifier is
// not charged for the time another process held the CPU.
func benchClock() (now func() time.Duration, done func()) {
	runtime.LockOSThread()
	return func() time.Duration {
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
			panic(err)
		}
		return time.Duration(ts.Nano())
	}, runtime.UnlockOSThread
}
