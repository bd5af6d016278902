package interop_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// startTimeout bounds how long a started process may take to print its
// ready line.
const startTimeout = 30 * time.Second

// npmOnce runs `npm ci` in node/ once per test binary, so that the Node
// scripts run against exactly the versions in package-lock.json.
var npmOnce = sync.OnceValues(func() (string, error) {
	dir, err := filepath.Abs("node")
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("npm ci in %s: %v\n%s", dir, err, out)
	}
	return dir, nil
})

// nodeProject returns the directory of the installed Node project. It skips
// the test when node or npm is not installed (fails it when
// KEYWARD_REQUIRE_NODE=1), and fails it when npm ci does.
func nodeProject(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("KEYWARD_REQUIRE_NODE") == "1" {
				t.Fatalf("KEYWARD_REQUIRE_NODE=1 but %s is not installed (apt-get install nodejs npm)", tool)
			}
			t.Skipf("SKIP: %s is not installed; the Node interoperability tests need Node.js 20 and npm (apt-get install nodejs npm)", tool)
		}
	}
	touchSources()
	dir, err := npmOnce()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// process is a long-running child process whose output is kept for the
// test log.
type process struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
}

// Write collects the child's output.
func (p *process) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// start runs name with args in dir and extra environment env, waits until a
// line of its output matches ready, and returns the process and the
// submatches of that line. The process is stopped with SIGTERM when the test
// ends, and its output is logged if the test failed.
func start(t *testing.T, dir string, env []string, ready *regexp.Regexp, name string, args ...string) (*process, []string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	p := &process{name: filepath.Base(name) + " " + strings.Join(args, " "), cmd: cmd}

	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.name, err)
	}
	exited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		pw.CloseWithError(io.EOF)
		exited <- err
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt) // fails harmlessly once it has exited
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", p.name, p.output())
		}
	})

	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			p.Write([]byte(line + "\n"))
			if !sent {
				if m := ready.FindStringSubmatch(line); m != nil {
					found <- m
					sent = true
				}
			}
		}
		// Keep draining so the child never blocks on a full pipe.
		io.Copy(p, pr)
	}()

	select {
	case m := <-found:
		return p, m
	case err := <-exited:
		exited <- err
		t.Fatalf("%s exited before it was ready (%v):\n%s", p.name, err, p.output())
	case <-time.After(startTimeout):
		t.Fatalf("%s printed no line matching %q within %s:\n%s", p.name, ready, startTimeout, p.output())
	}
	return nil, nil
}

// run runs name with args in dir, with env added and stdin as standard
// input, and returns its standard output, its standard error and its exit
// code. It fails the test only when the program cannot be run at all.
func run(t *testing.T, dir string, env []string, stdin string, name string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return o.String(), e.String(), ee.ExitCode()
		}
		t.Fatalf("run %s %s: %v", name, strings.Join(args, " "), err)
	}
	return o.String(), e.String(), 0
}

// httpGet sends GET url with an optional Bearer token and returns the status
// and body.
func httpGet(t *testing.T, client *http.Client, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}
