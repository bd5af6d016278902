package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/issuer"
	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/storage/sqlite"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildOut  []byte
)

// keywardBinary builds the keyward binary once per test run.
func keywardBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "keyward-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "keyward")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build: %v\n%s", buildErr, buildOut)
	}
	return binPath
}

// serveProc is a running "keyward serve".
type serveProc struct {
	cmd    *exec.Cmd
	done   chan struct{} // closed when the process has exited
	exit   int
	addr   string
	stdout *syncBuf
	stderr *syncBuf
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var listeningRE = regexp.MustCompile(`msg=listening addr=(127\.0\.0\.1:\d+)`)

// startServe runs the binary with args and waits for its "listening" line.
func startServe(t *testing.T, env []string, args ...string) *serveProc {
	t.Helper()
	bin := keywardBinary(t)
	cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	p := &serveProc{cmd: cmd, done: make(chan struct{}), stdout: new(syncBuf), stderr: new(syncBuf)}
	cmd.Stdout = p.stdout
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			p.stderr.Write([]byte(line + "\n"))
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	go func() {
		_ = cmd.Wait()
		p.exit = cmd.ProcessState.ExitCode()
		pw.Close()
		close(p.done)
	}()
	select {
	case p.addr = <-found:
	case <-p.done:
		t.Fatalf("serve exited with %d:\n%s", p.exit, p.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not start:\n%s", p.stderr.String())
	}
	return p
}

func (p *serveProc) url(path string) string { return "http://" + p.addr + path }

func (p *serveProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

func httpClient() *http.Client { return &http.Client{Timeout: 10 * time.Second} }

func (p *serveProc) login(t *testing.T, user, password string) issuer.TokenResponse {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	resp, err := httpClient().Post(p.url("/login"), "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("login: %d %s", resp.StatusCode, b)
	}
	var tr issuer.TokenResponse
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

func (p *serveProc) jwks(t *testing.T) *jose.JWKS {
	t.Helper()
	resp, err := httpClient().Get(p.url("/.well-known/jwks.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	set, err := jose.ParseJWKS(b)
	if err != nil {
		t.Fatalf("JWKS: %v: %s", err, b)
	}
	return set
}

var adminRE = regexp.MustCompile(`admin password: (\S+)\n`)

// adminPassword waits for the admin password on stdout.
func (p *serveProc) adminPassword(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := adminRE.FindStringSubmatch(p.stdout.String()); m != nil {
			return m[1]
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no admin password on stdout: %q", p.stdout.String())
	return ""
}

// TestServeFirstStart checks the first start of serve on an empty data
// directory, a restart, and a graceful shutdown.
func TestServeFirstStart(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	p := startServe(t, nil, "--data", data, "--alg", "ES256")
	password := p.adminPassword(t)
	file, err := os.ReadFile(filepath.Join(data, "admin-password"))
	if err != nil || strings.TrimSpace(string(file)) != password {
		t.Fatalf("admin-password file: %q, %v", file, err)
	}
	for path, want := range map[string]os.FileMode{data: 0o700, filepath.Join(data, "admin-password"): 0o600, filepath.Join(data, "master.key"): 0o600, filepath.Join(data, "keyward.db"): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", filepath.Base(path), fi.Mode().Perm(), want)
		}
	}
	tok := p.login(t, "admin", password)
	if _, err := jose.VerifyJWT(tok.AccessToken, p.jwks(t), mustAlgs(t), &jose.Policy{
		Issuers: []string{"http://localhost:4000"}, Audiences: []string{"api"}, Types: []string{"at+jwt"},
	}); err != nil {
		t.Fatalf("the access token does not verify with the served JWKS: %v", err)
	}
	if strings.Contains(p.stderr.String(), password) {
		t.Fatal("the admin password is in the log")
	}
	// Graceful shutdown on SIGTERM.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
	if p.exit != 0 {
		t.Fatalf("SIGTERM: exit code %d\n%s", p.exit, p.stderr.String())
	}
	// A restart keeps the admin and prints no password.
	p2 := startServe(t, nil, "--data", data, "--alg", "ES256")
	if strings.Contains(p2.stdout.String(), "admin password") {
		t.Fatal("a restart printed a new admin password")
	}
	p2.login(t, "admin", password)
}

func mustAlgs(t *testing.T) jose.AlgorithmSet {
	t.Helper()
	a, err := jose.NewAlgorithmSet(jose.RS256, jose.ES256, jose.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestServeSIGKILLDuringRotation runs serve with a 2s rotation period,
// kills it with SIGKILL at moments spread over several rotations, restarts
// it each time, and checks that the key set stays consistent: exactly one
// active key of each purpose (ES256 primary, RS256 ID-token), every stored
// private key opens with the master key and matches its kid, every stored
// key is served, and every token signed before still verifies.
func TestServeSIGKILLDuringRotation(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	args := []string{"--data", data, "--alg", "ES256", "--rotate-every", "2s", "--access-ttl", "10m"}
	p := startServe(t, nil, args...)
	password := p.adminPassword(t)
	tokens := []string{p.login(t, "admin", password).AccessToken}
	mk, err := os.ReadFile(filepath.Join(data, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	masterKey, err := issuer.ParseMasterKey(string(mk))
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := issuer.NewSealer(masterKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	kids := map[string]bool{}
	delays := []time.Duration{1900 * time.Millisecond, 2300 * time.Millisecond, 700 * time.Millisecond, 2100 * time.Millisecond, 1300 * time.Millisecond}
	for round, d := range delays {
		time.Sleep(d)
		p.kill(t)
		p = startServe(t, nil, args...)
		if strings.Contains(p.stdout.String(), "admin password") {
			t.Fatalf("round %d: the restart made a new admin", round)
		}
		stored := readKeys(t, filepath.Join(data, "keyward.db"))
		active := map[keyward.KeyPurpose]int{}
		for _, k := range stored {
			kids[k.ID] = true
			if k.State == keyward.KeyActive {
				active[k.Purpose]++
			}
			der, err := sealer.Open(k.ID, k.PrivateKey)
			if err != nil {
				t.Fatalf("round %d: key %s does not open: %v", round, k.ID, err)
			}
			if len(der) == 0 {
				t.Fatalf("round %d: key %s is empty", round, k.ID)
			}
		}
		// One ES256 key for access tokens and one RS256 key for ID tokens.
		if active[keyward.KeyPurposePrimary] != 1 || active[keyward.KeyPurposeIDToken] != 1 || len(active) != 2 {
			t.Fatalf("round %d: active keys by purpose %v after a SIGKILL, want one of each", round, active)
		}
		set := p.jwks(t)
		for _, k := range stored {
			if len(set.Lookup(k.ID)) != 1 {
				t.Fatalf("round %d: stored key %s (%s) is not served", round, k.ID, k.State)
			}
		}
		for i, tok := range tokens {
			if _, err := jose.VerifyJWT(tok, set, mustAlgs(t), &jose.Policy{Audiences: []string{"api"}}); err != nil {
				t.Fatalf("round %d: token %d, signed before, no longer verifies: %v", round, i, err)
			}
		}
		tokens = append(tokens, p.login(t, "admin", password).AccessToken)
	}
	if len(kids) < 4 {
		t.Fatalf("only %d keys over %d rounds: the rotation did not run", len(kids), len(delays))
	}
}

// readKeys reads the stored keys while the server may be running.
func readKeys(t *testing.T, path string) []keyward.SigningKey {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := sqlite.Open(ctx, sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	keys, err := s.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestServeBusyAddress checks that serve binds before it initialises: with
// the address of --listen or --metrics-listen taken, it fails at once with
// an error naming the flag, and creates no data directory, prints no admin
// password and generates no key.
func TestServeBusyAddress(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() }) // the subtests run after this function returns
	tests := []struct {
		name string
		args []string
		flag string
	}{
		{name: "listen", args: []string{"--listen", busy.Addr().String()}, flag: "--listen"},
		{name: "metrics-listen", args: []string{"--listen", "127.0.0.1:0", "--metrics-listen", busy.Addr().String()}, flag: "--metrics-listen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data := filepath.Join(t.TempDir(), "data")
			var stdout, stderr bytes.Buffer
			a := &app{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr,
				lookupEnv: func(string) (string, bool) { return "", false }, now: time.Now}
			code := a.run(t.Context(), append([]string{"serve", "--data", data}, tt.args...))
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if msg := stderr.String(); !strings.Contains(msg, tt.flag+" "+busy.Addr().String()+": address already in use") {
				t.Errorf("stderr %q does not name %s and the address in use", msg, tt.flag)
			}
			if _, err := os.Stat(data); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the data directory was created (%v)", err)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
}

// testServeOptions returns the options of a serve on 127.0.0.1:0 with the
// static RS256 test key (no key generation, no master key) and a data
// directory of its own.
func testServeOptions(t *testing.T) *serveOptions {
	t.Helper()
	return &serveOptions{
		store:      storeFlags{data: filepath.Join(t.TempDir(), "data"), lookupEnv: func(string) (string, bool) { return "", false }},
		keys:       keyFlags{alg: "RS256", accessTTL: 15 * time.Minute, rotateEvery: 720 * time.Hour},
		listen:     "127.0.0.1:0",
		issuer:     "http://localhost:4000",
		refreshTTL: time.Hour,
		signingKey: testKey("rsa2048.pem"),
		audience:   issuer.DefaultAudience,
		log:        logFlags{format: "text", level: "info"},
	}
}

// TestServeLoopFailure checks that a background loop that fails ends serve:
// runServe returns the loop's error, after logging loop_failed, and the
// servers stop.
func TestServeLoopFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		run     func(ctx context.Context) error
		wantErr string
	}{
		{name: "error", run: func(context.Context) error { return errors.New("disk on fire") }, wantErr: "disk on fire"},
		{name: "early return", run: func(context.Context) error { return nil }, wantErr: "stopped by itself"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stderr syncBuf
			a := &app{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &stderr,
				lookupEnv: func(string) (string, bool) { return "", false }, now: time.Now}
			o := testServeOptions(t)
			o.loops = []namedLoop{{name: "doomed", run: tt.run}}
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			err := runServe(ctx, a, o)
			if ctx.Err() != nil {
				t.Fatal("serve did not stop when its loop failed")
			}
			if err == nil || !strings.Contains(err.Error(), "doomed") || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("runServe: %v, want the loop's failure", err)
			}
			logs := stderr.String()
			for _, want := range []string{"msg=loop_failed loop=doomed", "msg=stopped"} {
				if !strings.Contains(logs, want) {
					t.Errorf("log lacks %q:\n%s", want, logs)
				}
			}
		})
	}
}

// TestServeRunsItsLoops checks that serve runs the key manager and the
// sweeper in its run group and stops them, and itself, cleanly when its
// context ends.
func TestServeRunsItsLoops(t *testing.T) {
	t.Parallel()
	if logs := serveUntilStarted(t, testServeOptions(t)); strings.Contains(logs, "loop_failed") {
		t.Errorf("a loop failed on a clean stop:\n%s", logs)
	}
}

// serveUntilStarted runs serve with o and a probe loop added to o's loops,
// stops it once the probe runs, fails t unless serve returns nil, and
// returns what serve logged.
func serveUntilStarted(t *testing.T, o *serveOptions) string {
	t.Helper()
	var stderr syncBuf
	a := &app{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &stderr,
		lookupEnv: func(string) (string, bool) { return "", false }, now: time.Now}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	started := make(chan struct{})
	o.loops = append(o.loops, namedLoop{name: "probe", run: func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		return nil
	}})
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, a, o) }()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("serve ended before its loops ran: %v\n%s", err, stderr.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("runServe after cancel: %v\n%s", err, stderr.String())
	}
	return stderr.String()
}

var metricsAddrRE = regexp.MustCompile(`metrics_addr=(127\.0\.0\.1:\d+)`)

// TestServeMetricsListen checks --metrics-listen: /metrics is served on
// its own address, with the key gauges, and no longer on --listen.
func TestServeMetricsListen(t *testing.T) {
	t.Parallel()
	p := startServe(t, nil, "--data", filepath.Join(t.TempDir(), "data"), "--signing-key", testKey("rsa2048.pem"),
		"--metrics-listen", "127.0.0.1:0")
	m := metricsAddrRE.FindStringSubmatch(p.stderr.String())
	if m == nil {
		t.Fatalf("no metrics_addr in the listening line:\n%s", p.stderr.String())
	}
	page := scrape(t, "http://"+m[1]+"/metrics")
	if got := metricValue(t, page, "keyward_signing_keys_list_error"); got != 0 {
		t.Errorf("keyward_signing_keys_list_error = %v", got)
	}
	if code, _, _ := httpGet(t, p.url("/metrics"), ""); code != http.StatusNotFound {
		t.Errorf("GET /metrics on --listen: %d, want 404", code)
	}
	if code, _, _ := httpGet(t, p.url("/.well-known/jwks.json"), ""); code != http.StatusOK {
		t.Errorf("GET /.well-known/jwks.json: %d", code)
	}
}
