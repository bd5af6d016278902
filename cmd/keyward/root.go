package main

import (
	"context"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/internal/cli"
)

// app is what every command gets from the process: its standard streams,
// environment and clock. Commands write results to stdout and nothing else;
// errors are returned from RunE, and cli.Execute prints them. Tests build an
// app with buffers, a fixed clock and a map for the environment.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// lookupEnv reads the environment (os.LookupEnv in production).
	// Commands rarely need it: flags read KEYWARD_<FLAG> by themselves.
	lookupEnv func(string) (string, bool)
	// now is the clock.
	now func() time.Time
}

// run runs the command line args and returns the exit code.
func (a *app) run(ctx context.Context, args []string) int {
	return cli.Execute(ctx, newRootCmd(a), args, a.lookupEnv, a.stderr)
}

// newRootCmd builds the keyward command tree.
func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "keyward",
		Short: "Asymmetric JWT authentication: keys, tokens, JWKS, an issuer and a verifying gate",
		Long: `keyward generates key pairs, signs, verifies and inspects JWTs, publishes
JWK sets, and runs an issuer (keyward serve) and a verifying reverse proxy
(keyward gate).

Every flag also reads KEYWARD_<FLAG> from the environment (--access-ttl from
KEYWARD_ACCESS_TTL); a flag given on the command line wins.
Exit codes: 0 success, 1 a failed verification or operation, 2 bad usage.`,
	}
	root.SetOut(a.stdout)
	root.SetIn(a.stdin)
	root.CompletionOptions.HiddenDefaultCmd = true

	// Every command is one constructor, func(*app) *cobra.Command, in its
	// own file (serve.go: newServeCmd, gate.go: newGateCmd, user.go:
	// newUserCmd, client.go: newClientCmd, keys.go: newKeysCmd). To add
	// one, write the file and add its constructor to this list, one line.
	// Use RunE, return errors (cli.Usagef for bad usage), take the context
	// from cmd.Context(), and don't bind environment variables yourself:
	// cli.Execute does it for every flag, MarkFlagRequired included.
	for _, newCmd := range []func(*app) *cobra.Command{
		newKeygenCmd,
		newJWKSCmd,
		newTokenCmd,
		newVersionCmd,
		newServeCmd,
		newUserCmd,
		newClientCmd,
		newKeysCmd,
		newGateCmd,
	} {
		root.AddCommand(newCmd(a))
	}
	return root
}
