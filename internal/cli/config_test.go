package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// configCmd is a command with the kinds of flags serve and gate have, that
// records their values when it runs.
type configCmd struct {
	listen   string
	ttl      time.Duration
	audience []string
	algs     []string
	db       string
}

func newConfigCmd(o *configCmd) *cobra.Command {
	cmd := &cobra.Command{Use: "serve", Args: cobra.NoArgs, RunE: func(*cobra.Command, []string) error { return nil }}
	f := cmd.Flags()
	f.String(ConfigFlag, "", "configuration file")
	f.StringVar(&o.listen, "listen", "127.0.0.1:4000", "")
	f.DurationVar(&o.ttl, "access-ttl", 15*time.Minute, "")
	f.StringArrayVar(&o.audience, "audience", nil, "")
	f.StringSliceVar(&o.algs, "algs", []string{"RS256"}, "")
	f.StringVar(&o.db, "db", "sqlite:./data/keyward.db", "")
	root := &cobra.Command{Use: "keyward"}
	root.AddCommand(cmd)
	return root
}

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keyward.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigFilePrecedence(t *testing.T) {
	t.Parallel()
	file := writeConfig(t, "listen: 127.0.0.1:4100\naccess-ttl: 10m\naudience: [orders, billing]\nalgs: [ES256, EdDSA]\n")
	for _, tc := range []struct {
		name     string
		args     []string
		env      map[string]string
		listen   string
		ttl      time.Duration
		audience []string
		algs     []string
	}{
		{name: "file over defaults", listen: "127.0.0.1:4100", ttl: 10 * time.Minute, audience: []string{"orders", "billing"}, algs: []string{"ES256", "EdDSA"}},
		{name: "environment over file", env: map[string]string{"KEYWARD_LISTEN": "127.0.0.1:4200", "KEYWARD_AUDIENCE": "env-aud"},
			listen: "127.0.0.1:4200", ttl: 10 * time.Minute, audience: []string{"env-aud"}, algs: []string{"ES256", "EdDSA"}},
		{name: "flags over environment and file", args: []string{"--listen", "127.0.0.1:4300", "--audience", "a1", "--audience", "a2", "--access-ttl", "1m"},
			env:    map[string]string{"KEYWARD_LISTEN": "127.0.0.1:4200", "KEYWARD_ACCESS_TTL": "2m"},
			listen: "127.0.0.1:4300", ttl: time.Minute, audience: []string{"a1", "a2"}, algs: []string{"ES256", "EdDSA"}},
		{name: "config from the environment", env: map[string]string{"KEYWARD_CONFIG": file, "KEYWARD_ACCESS_TTL": "2m"},
			listen: "127.0.0.1:4100", ttl: 2 * time.Minute, audience: []string{"orders", "billing"}, algs: []string{"ES256", "EdDSA"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var o configCmd
			args := append([]string{"serve"}, tc.args...)
			if tc.env["KEYWARD_CONFIG"] == "" {
				args = append(args, "--config", file)
			}
			var stderr bytes.Buffer
			if code := Execute(context.Background(), newConfigCmd(&o), args, envOf(tc.env), &stderr); code != ExitOK {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			if o.listen != tc.listen || o.ttl != tc.ttl || strings.Join(o.audience, ",") != strings.Join(tc.audience, ",") || strings.Join(o.algs, ",") != strings.Join(tc.algs, ",") {
				t.Errorf("got listen %s, access-ttl %v, audience %v, algs %v; want %s, %v, %v, %v",
					o.listen, o.ttl, o.audience, o.algs, tc.listen, tc.ttl, tc.audience, tc.algs)
			}
		})
	}
}

func TestConfigFileErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, content, want string
	}{
		{"unknown key", "listen: 127.0.0.1:1\n\nlisten-addr: x\n", `keyward.yaml:3: invalid configuration file: unknown key "listen-addr"`},
		{"config in the file", "config: other.yaml\n", `keyward.yaml:1: invalid configuration file: unknown key "config"`},
		{"list for a single flag", "listen: [a, b]\n", `keyward.yaml:1: invalid configuration file: "listen" takes one value, not a list`},
		{"bad value", "listen: a\naccess-ttl: soon\n", `keyward.yaml:2: invalid configuration file: invalid value for --access-ttl`},
		{"not YAML", "listen: [\n", `keyward.yaml: invalid configuration file`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := writeConfig(t, tc.content)
			var o configCmd
			var stderr bytes.Buffer
			code := Execute(context.Background(), newConfigCmd(&o), []string{"serve", "--config", path}, envOf(nil), &stderr)
			if code != ExitUsage || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr.String(), ExitUsage, tc.want)
			}
		})
	}
	var stderr bytes.Buffer
	if code := Execute(context.Background(), newConfigCmd(&configCmd{}), []string{"serve", "--config", filepath.Join(t.TempDir(), "none.yaml")}, envOf(nil), &stderr); code != ExitUsage {
		t.Errorf("missing file: exit %d, want %d (%s)", code, ExitUsage, stderr.String())
	}
}

func TestMaskSecret(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, value, want string }{
		{"db", "postgres://keyward:s3cret@db.internal:5432/keyward?sslmode=require", "postgres://keyward:****@db.internal:5432/keyward?sslmode=require"},
		{"db", "postgres://keyward@db.internal/keyward", "postgres://keyward@db.internal/keyward"},
		{"db", "host=db user=keyward password=s3cret dbname=keyward", "host=db user=keyward password=**** dbname=keyward"},
		{"db", "sqlite:./keyward-data/keyward.db", "sqlite:./keyward-data/keyward.db"},
		{"master-key", "c2VjcmV0", "****"},
		{"client-secret", "abc", "****"},
		{"password-file", "/etc/keyward/pw", "/etc/keyward/pw"},
		{"signing-key", "private.pem", "private.pem"},
		{"master-key", "", ""},
	} {
		if got := MaskSecret(tc.name, tc.value); got != tc.want {
			t.Errorf("MaskSecret(%q, %q) = %q, want %q", tc.name, tc.value, got, tc.want)
		}
	}
}

func TestPrintConfig(t *testing.T) {
	t.Parallel()
	var o configCmd
	root := newConfigCmd(&o)
	serve, _, _ := root.Find([]string{"serve"})
	if err := serve.Flags().Parse([]string{"--db", "postgres://u:pw@h/db", "--audience", "a", "--audience", "b"}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := PrintConfig(&out, serve.Flags()); err != nil {
		t.Fatal(err)
	}
	want := "access-ttl: 15m0s\nalgs: [RS256]\naudience: [a, b]\ndb: postgres://u:****@h/db\nlisten: 127.0.0.1:4000\n"
	if out.String() != want {
		t.Errorf("PrintConfig:\n%s\nwant:\n%s", out.String(), want)
	}
	// What it prints is a configuration file that gives the same values.
	path := writeConfig(t, out.String())
	var o2 configCmd
	var stderr bytes.Buffer
	if code := Execute(context.Background(), newConfigCmd(&o2), []string{"serve", "--config", path}, envOf(nil), &stderr); code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if strings.Join(o2.audience, ",") != "a,b" || o2.db != "postgres://u:****@h/db" || o2.ttl != 15*time.Minute {
		t.Errorf("read back %+v", o2)
	}
}
