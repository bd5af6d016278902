//go:build unix

package pgtest

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

// watchdogScript waits for the test process to end and then stops the
// cluster and removes its directory. It does nothing more than [Server.Stop]
// when that already ran.
const watchdogScript = `pid=$1 pgctl=$2 data=$3 dir=$4
shift 4
while kill -0 "$pid" 2>/dev/null; do sleep 1; done
if [ -d "$data" ]; then "$@" "$pgctl" -D "$data" -m immediate stop >/dev/null 2>&1; fi
rm -rf "$dir"`

// startWatchdog starts a detached shell that stops the cluster once this
// process is gone, so that a test binary killed before [Main] could stop it
// (a panic, a timeout) leaves no server behind.
func (s *Server) startWatchdog() error {
	args := []string{"-c", watchdogScript, "pgtest-watchdog", strconv.Itoa(os.Getpid()), s.pgctl, s.data, s.dir}
	cmd := exec.Command("/bin/sh", append(args, s.runAs...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	return cmd.Process.Release()
}
