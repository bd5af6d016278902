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
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run runs keyward with args, the process's environment and clock, and the
// given streams, and returns the exit code. The commands' context ends on
// SIGINT or SIGTERM, so that serve and gate shut down gracefully.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, lookupEnv: os.LookupEnv, now: time.Now}
	return a.run(ctx, args)
}
