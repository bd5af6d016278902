// Package cli holds what the commands of cmd/keyward share: exit codes,
// usage errors, running a cobra command tree with keyward's error and exit
// conventions, binding KEYWARD_<FLAG> environment variables to flags, and
// writing key files safely. It is for cmd/keyward only.
//
// It must never import issuer, server, gate, verifier or a storage backend:
// wiring them together is cmd/keyward's job.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes of every keyward command.
const (
	// ExitOK means success.
	ExitOK = 0
	// ExitFailure means a failed verification or operation.
	ExitFailure = 1
	// ExitUsage means bad usage: an unknown command or flag, a missing or
	// extra argument, a flag value that does not parse.
	ExitUsage = 2
)

// UsageError marks an error as the caller's misuse of a command; [Execute]
// exits with [ExitUsage] for it and points at the command's help.
type UsageError struct {
	Err error
}

// Error returns the underlying message.
func (e *UsageError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef returns a [UsageError] with a formatted message; %w works.
func Usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// groupMark marks a command that only groups subcommands; called alone it
// is a usage error, whatever its flags.
const groupMark = "keyward.group"

// runError marks an error returned by a command's RunE, as opposed to one
// cobra returned while parsing the command line.
type runError struct{ err error }

func (e *runError) Error() string { return e.err.Error() }
func (e *runError) Unwrap() error { return e.err }

// Execute runs the command tree under root with args and returns the exit
// code. It is the one place where keyward's command-line conventions are
// applied, so that every command, whoever wrote it, behaves the same:
//
//   - Environment variables are bound to every flag of every command with
//     [BindEnv] and lookupEnv (os.LookupEnv in production).
//   - An error is written to stderr as one line, "keyward: <message>"; a
//     usage error gets a pointer to the command's --help.
//   - Errors cobra raises before a command runs (unknown command or flag,
//     wrong number of arguments, a flag value that does not parse) and
//     [UsageError]s exit [ExitUsage]; other errors returned by a command's
//     RunE exit [ExitFailure]; success exits [ExitOK].
//   - A command that only groups subcommands ("keyward token") is a usage
//     error when called alone.
//
// Commands must use RunE (not Run), and return errors rather than print
// them. ctx reaches every command as cmd.Context().
func Execute(ctx context.Context, root *cobra.Command, args []string, lookupEnv func(string) (string, bool), stderr io.Writer) int {
	root.SilenceErrors = true
	root.SilenceUsage = true
	root.SetArgs(args)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &UsageError{Err: err}
	})
	walk(root, func(c *cobra.Command) {
		switch {
		case c.RunE != nil:
			run := c.RunE
			c.RunE = func(cmd *cobra.Command, args []string) error {
				if err := run(cmd, args); err != nil {
					return &runError{err: err}
				}
				return nil
			}
		case c.Run == nil && c.HasSubCommands():
			if c.Annotations == nil {
				c.Annotations = map[string]string{}
			}
			c.Annotations[groupMark] = "true"
			c.RunE = func(cmd *cobra.Command, args []string) error {
				var names []string
				for _, sub := range cmd.Commands() {
					if sub.IsAvailableCommand() {
						names = append(names, sub.Name())
					}
				}
				if len(args) > 0 {
					return &runError{err: Usagef("unknown command %q for %q; want one of: %s", args[0], cmd.CommandPath(), strings.Join(names, ", "))}
				}
				return &runError{err: Usagef("%s needs a subcommand: %s", cmd.CommandPath(), strings.Join(names, ", "))}
			}
		}
	})
	BindEnv(root, lookupEnv)

	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	code := ExitUsage
	var re *runError
	var ue *UsageError
	if errors.As(err, &re) && !errors.As(re.err, &ue) {
		code = ExitFailure
	}
	msg := oneLine(err.Error())
	if code == ExitUsage && cmd != nil {
		msg += fmt.Sprintf(" (see '%s --help')", cmd.CommandPath())
	}
	fmt.Fprintf(stderr, "%s: %s\n", root.Name(), msg)
	return code
}

// oneLine keeps a message on one line: its lines, trimmed and without the
// empty ones, joined with "; " (or a space after a question or a colon, as
// in cobra's "Did you mean this?" suggestions).
func oneLine(s string) string {
	var b strings.Builder
	for _, line := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if b.Len() > 0 {
			if prev := b.String(); strings.HasSuffix(prev, "?") || strings.HasSuffix(prev, ":") {
				b.WriteString(" ")
			} else {
				b.WriteString("; ")
			}
		}
		b.WriteString(line)
	}
	return b.String()
}

// walk calls fn for c and every command below it.
func walk(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		walk(sub, fn)
	}
}
