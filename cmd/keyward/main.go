// Command keyward generates keys, signs, verifies and inspects JWTs, builds
// JWK sets, and runs the keyward issuer and verifying gate.
//
// Every flag also reads KEYWARD_<FLAG> from the environment (--access-ttl
// from KEYWARD_ACCESS_TTL); a flag given on the command line wins. Exit
// codes: 0 success, 1 a failed verification or operation, 2 bad usage.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	a := &app{
		stdin:     os.Stdin,
		stdout:    os.Stdout,
		stderr:    os.Stderr,
		lookupEnv: os.LookupEnv,
		now:       time.Now,
	}
	code := a.run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// run runs keyward with args and the process's environment and clock, and
// returns the exit code. Tests call it in-process.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, lookupEnv: os.LookupEnv, now: time.Now}
	return a.run(context.Background(), args)
}
