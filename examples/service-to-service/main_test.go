package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// keyward builds the keyward command of this checkout into dir.
func keyward(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "keyward")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "github.com/keyward/keyward/cmd/keyward")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startLogged runs bin with args and returns the address its log line
// matching ready names; the process stops when the test ends.
func startLogged(t *testing.T, ready *regexp.Regexp, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); pw.Close(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := ready.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case addr := <-found:
		return addr
	case <-done:
		t.Fatalf("%s %s exited before it was ready", bin, args[0])
	case <-time.After(30 * time.Second):
		t.Fatalf("%s %s was not ready in 30s", bin, args[0])
	}
	return ""
}

// TestClientCredentialsThroughGate registers a client on keyward serve's
// store, starts serve and a gate in front of the demo API, and has the
// example's client get a token with client_credentials and call
// /protected through the gate.
func TestClientCredentialsThroughGate(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("SKIP: go is not on PATH; the test builds keyward with it")
	}
	dir := t.TempDir()
	bin := keyward(t, dir)
	data := filepath.Join(dir, "keyward-data")

	out, err := exec.CommandContext(t.Context(), bin, "client", "add", "reports",
		"--grant", "client_credentials", "--scope", "read:messages", "--audience", "api",
		"--json", "--data", data).Output()
	if err != nil {
		t.Fatalf("keyward client add: %v", err)
	}
	var client struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal(out, &client); err != nil || client.ID == "" || client.Secret == "" {
		t.Fatalf("keyward client add --json: %v", err)
	}

	const issuer = "http://issuer.example.test"
	serve := startLogged(t, regexp.MustCompile(`msg=listening addr=(127\.0\.0\.1:\d+)`), bin, "serve",
		"--listen", "127.0.0.1:0", "--issuer", issuer, "--data", data, "--alg", "ES256")
	gate := startLogged(t, regexp.MustCompile(`msg=gate_listening addr=(127\.0\.0\.1:\d+)`), bin, "gate",
		"--listen", "127.0.0.1:0", "--jwks-url", "http://"+serve+"/jwks.json", "--issuer", issuer, "--audience", "api")

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cases := []struct {
		name       string
		secret     string
		wantStatus int
		wantErr    bool
	}{
		{name: "registered client", secret: client.Secret, wantStatus: 200},
		{name: "wrong secret", secret: client.Secret + "x", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := NewClient(ctx, Config{
				TokenURL: "http://" + serve + "/token", ClientID: client.ID, ClientSecret: tc.secret,
				Scopes: []string{"read:messages"},
			})
			status, body, err := Call(ctx, c, "http://"+gate+"/protected")
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "invalid_client") {
					t.Fatalf("wrong secret: status %d, err %v; want an invalid_client error from the token endpoint", status, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if status != tc.wantStatus || !strings.Contains(body, `"client_id":"`+client.ID+`"`) || !strings.Contains(body, "read:messages") {
				t.Fatalf("GET /protected: %d %s", status, body)
			}
		})
	}
}
