package interop_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// shBlocks returns the ```sh code blocks of a Markdown document, in order,
// with the line number each starts on.
func shBlocks(t *testing.T, doc []byte) (blocks []string, lines []int) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(doc))
	var cur *strings.Builder
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case cur == nil && strings.TrimSpace(line) == "```sh":
			cur = new(strings.Builder)
			lines = append(lines, n+1)
		case cur != nil && strings.TrimSpace(line) == "```":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line)
			cur.WriteByte('\n')
		}
	}
	if cur != nil {
		t.Fatalf("unterminated ```sh block starting on line %d", lines[len(lines)-1])
	}
	return blocks, lines
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// TestQuickstart runs every ```sh block of docs/quickstart.md, in order, in
// one bash process with `set -euo pipefail`, so that the quick start cannot
// drift from the program: any command that fails fails the test.
//
// The script starts in the repository root with an empty GOBIN on PATH and
// TMPDIR in the test's temporary directory; ports 4000 and 3000 (after
// 127.0.0.1: or localhost:) are replaced by free ones. Nothing else is
// added: the page waits for the servers it starts by itself. Background
// processes left running are stopped when the test ends.
func TestQuickstart(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("SKIP: go is not on PATH; the quick start builds keyward with it")
	}
	touchSources()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "quickstart.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, lines := shBlocks(t, doc)
	if len(blocks) < 5 {
		t.Fatalf("docs/quickstart.md has %d ```sh blocks; the quick start has more steps than that", len(blocks))
	}

	tmp := t.TempDir()
	gobin := filepath.Join(tmp, "bin")
	issuerPort, gatePort := freePort(t), freePort(t)
	ports := strings.NewReplacer(
		"127.0.0.1:4000", "127.0.0.1:"+issuerPort,
		"localhost:4000", "localhost:"+issuerPort,
		"127.0.0.1:3000", "127.0.0.1:"+gatePort,
		"localhost:3000", "localhost:"+gatePort,
	)

	var script strings.Builder
	script.WriteString(`set -euo pipefail
trap 'echo "QUICKSTART FAILED at: $BASH_COMMAND" >&2' ERR
`)
	for i, b := range blocks {
		fmt.Fprintf(&script, "echo '>>> docs/quickstart.md:%d'\n", lines[i])
		script.WriteString(ports.Replace(b))
	}
	script.WriteString("echo '>>> quick start complete'\n")

	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"GOBIN="+gobin,
		"PATH="+gobin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"TMPDIR="+tmp,
	)
	// Its own process group, so that everything it starts in the
	// background is stopped with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	// Background commands should write to files; if one holds the output
	// pipe open, stop waiting for it shortly after bash exits.
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) // the background servers
	}
	t.Logf("quick start output:\n%s", out.String())
	if err != nil {
		t.Fatalf("docs/quickstart.md: %v", err)
	}
	if !strings.Contains(out.String(), ">>> quick start complete") {
		t.Fatal("the quick start did not run to its end")
	}
}
