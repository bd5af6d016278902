package cli

import (
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/keyward/keyward/internal/config"
)

// Names of the flags that the configuration file concerns.
const (
	// ConfigFlag names the YAML configuration file of a command (serve,
	// gate). Its keys are the command's flag names.
	ConfigFlag = "config"
	// PrintConfigFlag asks a command to print its effective configuration.
	PrintConfigFlag = "print-config"
)

// notInFile are flags that a configuration file cannot set.
var notInFile = []string{"help", ConfigFlag, PrintConfigFlag}

// applyConfig sets, from the file named by the --config flag (when fs has
// one and it is set), every flag of fs that neither the command line nor
// the environment set, so that the precedence is command line > environment
// > file > defaults. Every key of the file must be a flag of fs, or the
// error names its line. A list ("audience: [a, b]") gives a repeatable flag
// one occurrence per item. Errors are [UsageError]s.
func applyConfig(fs *pflag.FlagSet) error {
	cf := fs.Lookup(ConfigFlag)
	if cf == nil || cf.Value.String() == "" {
		return nil
	}
	path := cf.Value.String()
	f, err := config.Load(path)
	if err != nil {
		return Usagef("--config: %w", err)
	}
	for _, e := range f.Entries {
		fl := fs.Lookup(e.Key)
		if fl == nil || slices.Contains(notInFile, e.Key) {
			return &UsageError{Err: f.Errorf(e, "unknown key %q: the keys are the command's flag names (%s)", e.Key, strings.Join(fileKeys(fs), ", "))}
		}
		_, isList := fl.Value.(pflag.SliceValue)
		if e.List && !isList {
			return &UsageError{Err: f.Errorf(e, "%q takes one value, not a list", e.Key)}
		}
	}
	for _, e := range f.Entries {
		if fs.Lookup(e.Key).Changed {
			continue
		}
		for _, v := range e.Values {
			if err := fs.Set(e.Key, v); err != nil {
				return &UsageError{Err: f.Errorf(e, "invalid value for --%s: %v", e.Key, err)}
			}
		}
	}
	return nil
}

// fileKeys lists the keys a configuration file for fs may hold.
func fileKeys(fs *pflag.FlagSet) []string {
	var keys []string
	fs.VisitAll(func(f *pflag.Flag) {
		if !slices.Contains(notInFile, f.Name) {
			keys = append(keys, f.Name)
		}
	})
	return keys
}

// secretFlag matches the names of flags whose value is a secret.
var secretFlag = regexp.MustCompile(`(?i)(password|secret|master-key|token)`)

// dsnPassword matches a password in a key=value connection string.
var dsnPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('[^']*'|\S+)`)

// MaskSecret returns value as it may be shown for the flag named name:
// "****" for a flag whose name says it holds a secret, and URLs and
// key=value connection strings with their password replaced by "****"
// (postgres://user:****@host/db).
func MaskSecret(name, value string) string {
	if value == "" {
		return value
	}
	if secretFlag.MatchString(name) && !strings.HasSuffix(name, "-file") {
		return "****"
	}
	if u, err := url.Parse(value); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			// url.URL.Redacted writes "xxxxx"; keyward writes "****".
			u.User = url.UserPassword(u.User.Username(), "****")
			return strings.Replace(u.String(), "%2A%2A%2A%2A", "****", 1)
		}
	}
	return dsnPassword.ReplaceAllString(value, "${1}****")
}

// PrintConfig writes the effective configuration of fs — every flag a
// configuration file may set, with its value after the command line, the
// environment and the file — as YAML that --config accepts, secrets masked
// with [MaskSecret].
func PrintConfig(w io.Writer, fs *pflag.FlagSet) error {
	var entries []config.Entry
	fs.VisitAll(func(f *pflag.Flag) {
		if slices.Contains(notInFile, f.Name) {
			return
		}
		e := config.Entry{Key: f.Name}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			e.List = true
			for _, v := range sv.GetSlice() {
				e.Values = append(e.Values, MaskSecret(f.Name, v))
			}
		} else {
			e.Values = []string{MaskSecret(f.Name, f.Value.String())}
		}
		entries = append(entries, e)
	})
	b, err := config.Marshal(entries)
	if err != nil {
		return fmt.Errorf("printing the configuration: %w", err)
	}
	_, err = w.Write(b)
	return err
}
