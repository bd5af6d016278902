package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestKeysImportVerifyOnly imports another signer's public key with
// --verify-only: it is stored without a private half, retired, removed at
// --until, the active key keeps signing, and the import is logged.
func TestKeysImportVerifyOnly(t *testing.T) {
	t.Parallel()
	data := storeArgs(t)
	inv := invocation{env: map[string]string{"KEYWARD_MASTER_KEY": strings.Repeat("ab", 32)}}
	with := func(args ...string) []string { return append(args, data...) }
	run := func(args ...string) result {
		t.Helper()
		r := inv.kw(t, with(args...)...)
		if r.code != 0 {
			t.Fatalf("keyward %v: %d %s", args, r.code, r.stderr)
		}
		return r
	}
	run("keys", "rotate", "--now")
	r := run("keys", "import", "--verify-only", "--until", "90m", testKey("rsa2048.pub.pem"))
	if !strings.Contains(r.stdout, "imported verify-only") || !strings.Contains(r.stdout, t0.Add(90*time.Minute).Format(time.RFC3339)) {
		t.Fatalf("stdout: %s", r.stdout)
	}
	for _, want := range []string{"msg=key_imported", "verify_only=true", "until=" + t0.Add(90*time.Minute).Format("2006-01-02T15:04:05")} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %s: %s", want, r.stderr)
		}
	}
	// The private key of the same public key is the same key.
	if r := inv.kw(t, with("keys", "import", "--verify-only", "--until", "1h", testKey("rsa2048.pem"))...); r.code == 0 {
		t.Fatal("second import of the same key accepted")
	}
	// A private key is accepted too; only its public half is stored. --kid
	// publishes it under the kid the old signer wrote.
	if r := run("keys", "import", "--verify-only", "--kid", "legacy-1", "--until", t0.Add(time.Hour).Format(time.RFC3339), testKey("p256.pem")); !strings.Contains(r.stdout, "key legacy-1 imported") || !strings.Contains(r.stderr, "kid=legacy-1") {
		t.Fatalf("import --kid: %s %s", r.stdout, r.stderr)
	}

	var keys []struct {
		KID        string    `json:"kid"`
		State      string    `json:"state"`
		RemoveAt   time.Time `json:"remove_at"`
		VerifyOnly bool      `json:"verify_only"`
	}
	if err := json.Unmarshal([]byte(run("keys", "list", "--json").stdout), &keys); err != nil {
		t.Fatal(err)
	}
	var active, verify int
	for _, k := range keys {
		switch {
		case k.VerifyOnly:
			verify++
			if k.State != "retired" || !(k.RemoveAt.Equal(t0.Add(90*time.Minute)) || k.RemoveAt.Equal(t0.Add(time.Hour))) {
				t.Errorf("verify-only key %+v", k)
			}
		case k.State == "active":
			active++
		case k.State == "pending":
			t.Errorf("the import published a successor: %+v", k)
		}
	}
	if verify != 2 || active != 1 {
		t.Fatalf("%d verify-only and %d active keys, want 2 and 1: %+v", verify, active, keys)
	}
	if out := run("keys", "list").stdout; strings.Count(out, "verify-only") != 2 {
		t.Fatalf("keys list: %s", out)
	}

	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no --until", []string{"--verify-only", testKey("p384.pem")}, "needs --until"},
		{"negative duration", []string{"--verify-only", "--until", "-1h", testKey("p384.pem")}, "positive"},
		{"past time", []string{"--verify-only", "--until", t0.Add(-time.Second).Format(time.RFC3339), testKey("p384.pem")}, "not in the future"},
		{"not a time", []string{"--verify-only", "--until", "tomorrow", testKey("p384.pem")}, "RFC 3339"},
		{"--now", []string{"--verify-only", "--now", "--until", "1h", testKey("p384.pem")}, "exclude"},
		{"--until alone", []string{"--until", "1h", testKey("p384.pem")}, "need --verify-only"},
		{"--kid alone", []string{"--kid", "k1", testKey("p384.pem")}, "need --verify-only"},
		{"bad --kid", []string{"--verify-only", "--until", "1h", "--kid", "a\tb", testKey("p384.pem")}, "printable ASCII"},
		{"public key without --verify-only", []string{testKey("p256.pub.pem")}, "not a private key"},
	} {
		r := inv.kw(t, with(append([]string{"keys", "import"}, tt.args...)...)...)
		if r.code == 0 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%s: exit %d, stderr %q, want it to say %q", tt.name, r.code, r.stderr, tt.want)
		}
	}
}

// FuzzParseUntil holds parseUntil to its contract: a time it accepts is
// after now.
func FuzzParseUntil(f *testing.F) {
	for _, s := range []string{"1h", "90m", "-1h", "0s", "2026-03-01T13:00:00Z", "2026-03-01T11:00:00Z", "2026-03-01T13:00:00+02:00", "", "tomorrow", "9999999999h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseUntil(s, t0)
		if err == nil && !got.After(t0) {
			t.Fatalf("parseUntil(%q) = %s, not after %s", s, got, t0)
		}
	})
}
