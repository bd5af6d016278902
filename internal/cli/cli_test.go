package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/jose"
)

// testTree is a small command tree with what the real one uses: a group,
// a required flag, a persistent required flag, a list flag, a PreRun.
type testTree struct {
	root                *cobra.Command
	name, store, region string
	tags                []string
	count               int
	preRan              bool
	ranWith             []string
}

func newTestTree(runErr error) *testTree {
	tr := &testTree{}
	tr.root = &cobra.Command{Use: "keyward"}
	group := &cobra.Command{Use: "thing"}
	group.PersistentFlags().StringVar(&tr.store, "store", "", "store")
	group.MarkPersistentFlagRequired("store")
	add := &cobra.Command{
		Use:    "add NAME",
		Args:   cobra.ExactArgs(1),
		PreRun: func(*cobra.Command, []string) { tr.preRan = true },
		RunE: func(_ *cobra.Command, args []string) error {
			tr.ranWith = args
			return runErr
		},
	}
	add.Flags().StringVar(&tr.name, "display-name", "default", "name")
	add.Flags().StringVar(&tr.region, "region", "", "region")
	add.MarkFlagRequired("region")
	add.Flags().StringArrayVar(&tr.tags, "tag", nil, "tags")
	add.Flags().IntVar(&tr.count, "count", 1, "count")
	group.AddCommand(add)
	tr.root.AddCommand(group)
	return tr
}

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestExecute(t *testing.T) {
	t.Parallel()
	full := []string{"thing", "add", "--store", "s", "--region", "eu", "x"}
	tests := []struct {
		name    string
		runErr  error
		env     map[string]string
		args    []string
		code    int
		stderr  string // substring; "" means empty stderr
		checkFn func(t *testing.T, tr *testTree)
	}{
		{name: "success", args: full, code: ExitOK, checkFn: func(t *testing.T, tr *testTree) {
			if !tr.preRan || len(tr.ranWith) != 1 || tr.ranWith[0] != "x" {
				t.Errorf("preRan %v, ranWith %v", tr.preRan, tr.ranWith)
			}
		}},
		{name: "operation error", runErr: errors.New("boom\nsecond line"), args: full, code: ExitFailure, stderr: "keyward: boom; second line\n"},
		{name: "usage error from RunE", runErr: Usagef("bad %s", "value"), args: full, code: ExitUsage, stderr: "keyward: bad value (see 'keyward thing add --help')\n"},
		{name: "unknown flag", args: append(full, "--nope"), code: ExitUsage, stderr: "unknown flag: --nope"},
		{name: "flag value", args: append(full, "--count", "many"), code: ExitUsage, stderr: "--count"},
		{name: "arguments", args: full[:len(full)-1], code: ExitUsage, stderr: "accepts 1 arg(s)"},
		{name: "unknown command", args: []string{"nope"}, code: ExitUsage, stderr: `unknown command "nope"`},
		{name: "group alone", args: []string{"thing"}, code: ExitUsage, stderr: "keyward thing needs a subcommand: add"},
		{name: "root alone", args: nil, code: ExitUsage, stderr: "needs a subcommand"},
		{name: "required flag missing", args: []string{"thing", "add", "--store", "s", "x"}, code: ExitUsage, stderr: "--region (or KEYWARD_REGION)"},
		{name: "required persistent flag missing", args: []string{"thing", "add", "--region", "eu", "x"}, code: ExitUsage, stderr: "--store (or KEYWARD_STORE)"},
		{
			name: "required flags from the environment",
			env:  map[string]string{"KEYWARD_REGION": "us", "KEYWARD_STORE": "env-store"},
			args: []string{"thing", "add", "x"}, code: ExitOK,
			checkFn: func(t *testing.T, tr *testTree) {
				if tr.region != "us" || tr.store != "env-store" {
					t.Errorf("region %q store %q", tr.region, tr.store)
				}
			},
		},
		{
			name: "flags win over the environment",
			env:  map[string]string{"KEYWARD_REGION": "us", "KEYWARD_DISPLAY_NAME": "env", "KEYWARD_TAG": "env-tag", "KEYWARD_COUNT": "7"},
			args: append(full, "--display-name", "flag", "--tag", "a", "--tag", "b"), code: ExitOK,
			checkFn: func(t *testing.T, tr *testTree) {
				if tr.region != "eu" || tr.name != "flag" || strings.Join(tr.tags, ",") != "a,b" || tr.count != 7 {
					t.Errorf("region %q name %q tags %v count %d", tr.region, tr.name, tr.tags, tr.count)
				}
			},
		},
		{
			name: "list flag from the environment",
			env:  map[string]string{"KEYWARD_TAG": "one,two"},
			args: full, code: ExitOK,
			checkFn: func(t *testing.T, tr *testTree) {
				if len(tr.tags) != 1 || tr.tags[0] != "one,two" {
					t.Errorf("tags %q", tr.tags)
				}
			},
		},
		{
			name: "empty variable is unset",
			env:  map[string]string{"KEYWARD_REGION": ""},
			args: []string{"thing", "add", "--store", "s", "x"}, code: ExitUsage, stderr: "--region",
		},
		{name: "bad variable", env: map[string]string{"KEYWARD_COUNT": "many"}, args: full, code: ExitUsage, stderr: "KEYWARD_COUNT: invalid value for --count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr := newTestTree(tt.runErr)
			var stderr bytes.Buffer
			code := Execute(t.Context(), tr.root, tt.args, envOf(tt.env), &stderr)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr %q", code, tt.code, stderr.String())
			}
			switch {
			case tt.stderr == "" && stderr.Len() > 0:
				t.Errorf("stderr %q, want none", stderr.String())
			case !strings.Contains(stderr.String(), tt.stderr):
				t.Errorf("stderr %q, want it to contain %q", stderr.String(), tt.stderr)
			case stderr.Len() > 0 && strings.Count(stderr.String(), "\n") != 1:
				t.Errorf("stderr %q is not one line", stderr.String())
			}
			if tt.checkFn != nil {
				tt.checkFn(t, tr)
			}
		})
	}
}

func TestBindEnvTwice(t *testing.T) {
	t.Parallel()
	tr := newTestTree(nil)
	env := envOf(map[string]string{"KEYWARD_TAG": "x"})
	BindEnv(tr.root, env)
	BindEnv(tr.root, env)
	code := Execute(t.Context(), tr.root, []string{"thing", "add", "--store", "s", "--region", "r", "n"}, env, &bytes.Buffer{})
	if code != 0 || len(tr.tags) != 1 {
		t.Errorf("exit %d, tags %v: want 0 and the variable applied once", code, tr.tags)
	}
}

func TestEnvName(t *testing.T) {
	t.Parallel()
	for flag, want := range map[string]string{"access-ttl": "KEYWARD_ACCESS_TTL", "db": "KEYWARD_DB", "jwks-url": "KEYWARD_JWKS_URL"} {
		if got := EnvName(flag); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", flag, got, want)
		}
	}
}

func TestWriteFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "key.pem")
	if err := WriteFile(path, []byte("one"), PrivateFileMode, false); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("two"), PrivateFileMode, false); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("second write without force: %v", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "one" {
		t.Errorf("content %q after a refused write", got)
	}
	if err := CheckNew(false, "", path); err == nil {
		t.Error("CheckNew passed an existing file")
	}
	if err := CheckNew(true, path); err != nil {
		t.Errorf("CheckNew with force: %v", err)
	}

	// A symlink in place of the file is not followed without force.
	target := filepath.Join(dir, "target")
	link := filepath.Join(dir, "link.pem")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(link, []byte("secret"), PrivateFileMode, false); err == nil {
		t.Error("wrote through a symlink")
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Error("the symlink's target was created")
	}

	// Force replaces the file and sets the mode, whatever the old one.
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("three"), PrivateFileMode, true); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "three" || fi.Mode().Perm() != PrivateFileMode {
		t.Errorf("after force: %q mode %v", got, fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries, want key.pem and link.pem", len(entries))
	}
}

func TestParseKeys(t *testing.T) {
	t.Parallel()
	key, err := jose.GenerateKey(jose.ES256, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	pemData, err := jose.MarshalPrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := ParseKeys(pemData)
	if err != nil || len(keys) != 1 || keys[0].KeyID == "" {
		t.Fatalf("PEM: %v %v", keys, err)
	}
	pub, _ := keys[0].Public()
	jwk, err := pub.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	one, err := ParseKeys(jwk)
	if err != nil || len(one) != 1 || one[0].KeyID != keys[0].KeyID {
		t.Errorf("JWK: %v %v", one, err)
	}
	set, err := ParseKeys([]byte(`{"keys":[` + string(jwk) + `]}`))
	if err != nil || len(set) != 1 {
		t.Errorf("JWK set: %v %v", set, err)
	}
	for _, bad := range []string{`{"keys":[]}`, `{"kty":`, `{"a":1,"a":2}`, "not a key", ""} {
		if _, err := ParseKeys([]byte(bad)); err == nil {
			t.Errorf("ParseKeys(%q) succeeded", bad)
		}
	}
}
