package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runKeyward runs keyward in-process with env and returns its exit code,
// stdout and stderr.
func runKeyward(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	a := &app{
		stdin:  strings.NewReader(""),
		stdout: &stdout,
		stderr: &stderr,
		lookupEnv: func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		},
		now: time.Now,
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	code := a.run(ctx, args)
	return code, stdout.String(), stderr.String()
}

func TestServeConfigFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "keyward.yaml")
	data := filepath.Join(dir, "data")
	err := os.WriteFile(file, []byte(`# keyward serve
data: `+data+`
listen: 127.0.0.1:4100
issuer: https://auth.example.com
access-ttl: 10m
refresh-ttl: 24h
db: postgres://keyward:file-secret@db.internal:5432/keyward
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"KEYWARD_ACCESS_TTL": "5m", "KEYWARD_REFRESH_TTL": "48h"}
	code, out, errOut := runKeyward(t, env, "serve", "--config", file, "--print-config", "--refresh-ttl", "72h")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"listen: 127.0.0.1:4100\n",                               // file over default
		"issuer: https://auth.example.com\n",                     // file over default
		"access-ttl: 5m0s\n",                                     // environment over file
		"refresh-ttl: 72h0m0s\n",                                 // flag over environment and file
		"db: postgres://keyward:****@db.internal:5432/keyward\n", // masked
		"alg: RS256\n",                                           // default
	} {
		if !strings.Contains(out, want) {
			t.Errorf("--print-config lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "file-secret") || strings.Contains(out, "print-config") || strings.Contains(out, "config:") {
		t.Errorf("--print-config shows a secret or the config flags:\n%s", out)
	}
	// Nothing was started or created: print-config only prints.
	if !strings.Contains(out, "data: "+data+"\n") {
		t.Errorf("--print-config lacks the file's data directory:\n%s", out)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("--print-config created the data directory: %v", err)
	}
}

func TestConfigFileUnknownKey(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"serve", "gate"} {
		t.Run(cmd, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "keyward.yaml")
			if err := os.WriteFile(file, []byte("listen: 127.0.0.1:0\n\naccess_ttl: 10m\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			code, _, errOut := runKeyward(t, nil, cmd, "--config", file)
			want := file + `:3: invalid configuration file: unknown key "access_ttl"`
			if code != 2 || !strings.Contains(errOut, want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, errOut, want)
			}
		})
	}
}

func TestGateConfigFile(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "gate.yaml")
	// The file names the issuer; the audience comes from the environment.
	if err := os.WriteFile(file, []byte("issuer: not-a-url\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runKeyward(t, map[string]string{"KEYWARD_AUDIENCE": "api"}, "gate", "--config", file)
	if code != 2 || !strings.Contains(errOut, `--issuer "not-a-url" is not an absolute http(s) URL`) {
		t.Fatalf("exit %d, stderr %q; want the file's --issuer refused", code, errOut)
	}
}
