package cli

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// EnvPrefix starts the name of every environment variable keyward reads.
const EnvPrefix = "KEYWARD_"

// envBound marks a command whose hooks BindEnv has installed.
const envBound = "keyward.env-bound"

// EnvName returns the environment variable that sets the flag named flag:
// "KEYWARD_" and the flag's name in upper case with dashes as underscores
// ("access-ttl" → "KEYWARD_ACCESS_TTL").
func EnvName(flag string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// BindEnv makes every flag of cmd and of every command below it read
// KEYWARD_<FLAG> ([EnvName]) from lookupEnv when the flag is not given on
// the command line: a flag given explicitly always wins, and an empty
// variable counts as unset. A list flag (--aud, --claim) takes the
// variable's value as one occurrence of the flag; flags that split on
// commas (--algs) split it too. A value that does not parse is a
// [UsageError] naming the variable. A command with a --config flag then
// reads the flags still unset from that YAML file ([ConfigFlag]), so the
// precedence is command line > environment > file > defaults.
//
// [Execute] calls BindEnv on the whole tree, so a command added to the root
// needs nothing more. It must run after the flags are defined and before
// the command executes. Flags marked with cobra's MarkFlagRequired keep
// working, and are satisfied by their variable: BindEnv takes the check
// over from cobra (which runs before any hook could read the environment)
// and makes it after the variables are applied. Variables are applied in a
// PreRunE hook that BindEnv wraps around the command's own PreRunE or
// PreRun; calling BindEnv twice on a command is harmless.
func BindEnv(cmd *cobra.Command, lookupEnv func(string) (string, bool)) {
	walk(cmd, func(c *cobra.Command) {
		if c.Annotations[envBound] != "" {
			return
		}
		if c.Annotations == nil {
			c.Annotations = map[string]string{}
		}
		c.Annotations[envBound] = "true"

		required := map[string]bool{}
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if takeRequired(f) {
				required[f.Name] = true
			}
		})
		c.PersistentFlags().VisitAll(func(f *pflag.Flag) {
			if takeRequired(f) {
				required[f.Name] = true
				c.Annotations[envRequiredPrefix+f.Name] = "true"
			}
		})

		preRunE, preRun := c.PreRunE, c.PreRun
		c.PreRunE = func(cmd *cobra.Command, args []string) error {
			if err := applyEnv(cmd.Flags(), lookupEnv); err != nil {
				return err
			}
			if err := applyConfig(cmd.Flags()); err != nil {
				return err
			}
			if cmd.Annotations[groupMark] == "" {
				if err := checkRequired(cmd, required); err != nil {
					return err
				}
			}
			switch {
			case preRunE != nil:
				return preRunE(cmd, args)
			case preRun != nil:
				preRun(cmd, args)
			}
			return nil
		}
		c.PreRun = nil
	})
}

// takeRequired removes cobra's required mark from f and reports whether it
// was there.
func takeRequired(f *pflag.Flag) bool {
	v := f.Annotations[cobra.BashCompOneRequiredFlag]
	if len(v) != 1 || v[0] != "true" {
		return false
	}
	delete(f.Annotations, cobra.BashCompOneRequiredFlag)
	return true
}

// applyEnv sets every flag of fs not given on the command line from its
// environment variable.
func applyEnv(fs *pflag.FlagSet, lookupEnv func(string) (string, bool)) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" {
			return
		}
		name := EnvName(f.Name)
		v, ok := lookupEnv(name)
		if !ok || v == "" {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = Usagef("%s: invalid value for --%s: %v", name, f.Name, e)
		}
	})
	return err
}

// checkRequired reports the required flags (of the command or inherited)
// that neither the command line nor the environment set. Inherited
// persistent flags were recorded on the command that defines them, so the
// parents' sets are consulted too.
func checkRequired(cmd *cobra.Command, required map[string]bool) error {
	var missing []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		if required[f.Name] || inheritedRequired(cmd, f.Name) {
			missing = append(missing, fmt.Sprintf("--%s (or %s)", f.Name, EnvName(f.Name)))
		}
	})
	if len(missing) == 0 {
		return nil
	}
	sort.Strings(missing)
	return Usagef("required flag not set: %s", strings.Join(missing, ", "))
}

// inheritedRequired reports whether a parent of cmd defines name as a
// required persistent flag.
func inheritedRequired(cmd *cobra.Command, name string) bool {
	for p := cmd.Parent(); p != nil; p = p.Parent() {
		f := p.PersistentFlags().Lookup(name)
		if f == nil {
			continue
		}
		return p.Annotations[envRequiredPrefix+name] == "true"
	}
	return false
}

// envRequiredPrefix records, on a command, its required persistent flags.
const envRequiredPrefix = "keyward.required."
