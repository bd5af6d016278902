package main

import (
	"bufio"
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/issuer"
)

// docBlocks returns the fenced code blocks of a Markdown document whose
// language is lang, in order, without their fences.
func docBlocks(t *testing.T, doc []byte, lang string) []string {
	t.Helper()
	var blocks []string
	var cur *strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case cur == nil && line == "```"+lang:
			cur = &strings.Builder{}
		case cur != nil && line == "```":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	if cur != nil {
		t.Fatalf("unterminated ```%s block", lang)
	}
	return blocks
}

// TestMigratingTwoIssuers runs the two-issuer section of docs/migrating.md:
// its two policy files and its commands, with a real keyward issuer in
// place of http://localhost:8080 and the recipe's RS256 key as the Node
// issuer's. Node and keyward tokens both pass during the move; after the
// SIGHUP with the second file, only keyward's do.
func TestMigratingTwoIssuers(t *testing.T) {
	doc, err := os.ReadFile("../../docs/migrating.md")
	if err != nil {
		t.Fatal(err)
	}
	var during, after string
	for _, b := range docBlocks(t, doc, "yaml") {
		switch {
		case strings.HasPrefix(b, "# migration-policy.yaml\n"):
			during = b
		case strings.HasPrefix(b, "# migration-policy.yaml, after the move\n"):
			after = b
		}
	}
	var start, reload string
	for _, b := range docBlocks(t, doc, "sh") {
		switch {
		case strings.Contains(b, "--policy migration-policy.yaml"):
			start = b
		case strings.Contains(b, "kill -HUP"):
			reload = b
		}
	}
	if during == "" || after == "" || start == "" || reload == "" {
		t.Fatal("docs/migrating.md lacks the two policy files or the commands of the two-issuer section")
	}
	// The start command, as the test runs it: keyward gate ARGS &.
	line, _, _ := strings.Cut(start, "\n")
	args := strings.Fields(strings.TrimSuffix(strings.TrimSpace(line), "&"))
	if len(args) < 2 || args[0] != "keyward" || args[1] != "gate" || strings.TrimSpace(reload) != `kill -HUP "$GATE_PID"` {
		t.Fatalf("unexpected commands: %q, %q", line, reload)
	}
	args = args[2:]
	for i := range args {
		if args[i] == "--listen" {
			args[i+1] = "127.0.0.1:0" // startGateCmd picks the port
		}
	}

	ri := startRevocationIssuer(t)
	params := issuer.PasswordParams{Memory: 64, Time: 1, Threads: 1}
	if _, err := issuer.NewUser(t.Context(), ri.store, "alice", "correct horse", nil, nil, params, nil); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	node := newNodeIssuer(t, dir)
	if err := os.Rename(node.pubFile, filepath.Join(dir, "public.pem")); err != nil {
		t.Fatal(err)
	}
	policy := filepath.Join(dir, "migration-policy.yaml")
	write := func(src string) {
		t.Helper()
		if err := os.WriteFile(policy, []byte(strings.ReplaceAll(src, "http://localhost:8080", ri.url)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(during)
	for i, a := range args {
		if a == "migration-policy.yaml" {
			args[i] = policy
		}
	}
	gateURL, logs, stop := startGateCmd(t, nil, args...)
	defer func() {
		if code := stop(); code != 0 {
			t.Errorf("gate exited with %d: %s", code, logs)
		}
	}()
	if !strings.Contains(logs.String(), "issuers=keyward,node routes=2 public_routes=1 default=deny") {
		t.Errorf("start-up line: %s", logs)
	}

	kwTok := ri.login(t, "alice", "correct horse")
	nodeTok := node.token(t, "http://localhost:4000", nil)
	expect := func(phase, token string, want int) {
		t.Helper()
		if code, _, body := httpGet(t, gateURL+"/protected", token); code != want {
			t.Errorf("%s: status %d, want %d: %s", phase, code, want, body)
		}
	}
	expect("during, keyward", kwTok, http.StatusOK)
	expect("during, node", nodeTok, http.StatusOK)
	if code, _, _ := httpGet(t, gateURL+"/", ""); code != http.StatusOK {
		t.Errorf("public / : %d", code)
	}

	// kill -HUP "$GATE_PID": the gate runs in this process.
	write(after)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "msg=policy_reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("no policy_reloaded line: %s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "issuers=keyward routes=2") || !strings.Contains(logs.String(), "key_sources_kept=1") {
		t.Errorf("reload line: %s", logs)
	}
	expect("after, keyward", kwTok, http.StatusOK)
	expect("after, node", nodeTok, http.StatusUnauthorized)
}
