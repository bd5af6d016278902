package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeRequireMFAWithoutMasterKey checks that serve --require-mfa
// without a usable master key (here <data>/master.key cannot be read)
// refuses to start, with an error naming the ways to give users a factor.
func TestServeRequireMFAWithoutMasterKey(t *testing.T) {
	t.Parallel()
	a := &app{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard,
		lookupEnv: func(string) (string, bool) { return "", false }, now: time.Now}
	o := testServeOptions(t)
	o.requireMFA = true
	if err := os.MkdirAll(filepath.Join(o.store.data, "master.key"), 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	err := runServe(ctx, a, o)
	if err == nil {
		t.Fatal("serve --require-mfa started without a master key")
	}
	for _, want := range []string{"--require-mfa", masterKeyEnv, filepath.Join(o.store.data, "master.key")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

// TestServeWarnsWithoutSecondFactors checks that serve logs
// second_factors_unavailable at start when it offers no second factor to
// set up (a static RS256 key needs no master key, and an http issuer on an
// IP address gets no passkeys): a user who must use one cannot sign in.
func TestServeWarnsWithoutSecondFactors(t *testing.T) {
	t.Parallel()
	o := testServeOptions(t)
	o.issuer = "http://127.0.0.1:4000"
	logs := serveUntilStarted(t, o)
	if !strings.Contains(logs, "msg=second_factors_unavailable") || !strings.Contains(logs, masterKeyEnv) {
		t.Errorf("no second_factors_unavailable warning naming %s:\n%s", masterKeyEnv, logs)
	}
}
