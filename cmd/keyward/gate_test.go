package main

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/issuer"
	"github.com/keyward/keyward/jose"
)

// syncBuffer is a buffer safe for the gate's logger and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// gateKey is the test key of the verifier's testdata, so that no test
// waits on RSA key generation.
func gateKey(t testing.TB) (*jose.Signer, []byte) {
	t.Helper()
	data, err := os.ReadFile("../../verifier/testdata/rsa-a.pem")
	if err != nil {
		t.Fatal(err)
	}
	key, err := jose.ParseKeyPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jose.NewJWK(key.(crypto.Signer).Public(), jose.RS256)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jose.NewSigner(key, jose.RS256, pub.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	set, err := (&jose.JWKS{Keys: []*jose.JWK{pub}}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return s, set
}

// startGateCmd runs `keyward gate args...` in-process and returns its base
// URL, its log, and a function that stops it and returns its exit code.
func startGateCmd(t *testing.T, env map[string]string, args ...string) (string, *syncBuffer, func() int) {
	t.Helper()
	logs := &syncBuffer{}
	a := &app{
		stdin:  strings.NewReader(""),
		stdout: io.Discard,
		stderr: logs,
		lookupEnv: func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		},
		now: time.Now,
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	go func() { done <- a.run(ctx, append([]string{"gate", "--listen", "127.0.0.1:0"}, args...)) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, rest, ok := strings.Cut(logs.String(), "addr="); ok {
			addr, _, _ := strings.Cut(rest, " ")
			stop := func() int {
				cancel()
				select {
				case code := <-done:
					return code
				case <-time.After(15 * time.Second):
					t.Fatal("the gate did not shut down")
					return -1
				}
			}
			t.Cleanup(func() { cancel() })
			return "http://" + addr, logs, stop
		}
		select {
		case code := <-done:
			t.Fatalf("gate exited with %d: %s", code, logs)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("gate did not start: %s", logs)
	return "", nil, nil
}

func httpGet(t *testing.T, url, token string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestGateCommand(t *testing.T) {
	t.Parallel()
	signer, set := gateKey(t)
	jwksSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(set)
	}))
	t.Cleanup(jwksSrv.Close)
	iss := jwksSrv.URL
	mint := func(mod func(*jose.Claims)) string {
		c := &jose.Claims{Issuer: iss, Subject: "alice", Audience: jose.Audience{"api"},
			IssuedAt: jose.NewNumericDate(time.Now()), Expiry: jose.NewNumericDate(time.Now().Add(time.Hour)),
			Extra: map[string]any{"scope": "read"}}
		if mod != nil {
			mod(c)
		}
		tok, err := signer.SignJWT("JWT", c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	base, logs, stop := startGateCmd(t, map[string]string{"KEYWARD_AUDIENCE": "api"},
		"--jwks-url", iss+"/jwks.json", "--issuer", iss, "--algs", "RS256")
	line := logs.String()
	for _, want := range []string{"issuer=" + iss, "jwks=" + iss + "/jwks.json", "algorithms=RS256", "audiences=api"} {
		if !strings.Contains(line, want) {
			t.Errorf("startup log lacks %q: %s", want, line)
		}
	}

	tampered := func() string {
		tok := mint(nil)
		h, rest, _ := strings.Cut(tok, ".")
		_, sig, _ := strings.Cut(rest, ".")
		return h + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"`+iss+`","sub":"root","aud":"api","exp":9999999999}`)) + "." + sig
	}()
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"`+iss+`","sub":"root","aud":"api","exp":9999999999}`)) + "."
	tests := []struct {
		name   string
		path   string
		token  string
		status int
		body   string
	}{
		{"public", "/", "", 200, "This is a public route"},
		{"no token", "/protected", "", 401, ""},
		{"valid", "/protected", mint(nil), 200, `"sub":"alice"`},
		{"expired", "/protected", mint(func(c *jose.Claims) { c.Expiry = jose.NewNumericDate(time.Now().Add(-time.Hour)) }), 401, "token expired"},
		{"wrong aud", "/protected", mint(func(c *jose.Claims) { c.Audience = jose.Audience{"other"} }), 401, "audience not accepted"},
		{"wrong iss", "/protected", mint(func(c *jose.Claims) { c.Issuer = "https://evil.example" }), 401, "issuer not accepted"},
		{"tampered", "/protected", tampered, 401, "signature invalid"},
		{"alg none", "/protected", none, 401, "algorithm not allowed"},
		{"health", "/.keyward/healthz", "", 200, "ok"},
	}
	for _, tt := range tests {
		status, hdr, body := httpGet(t, base+tt.path, tt.token)
		if status != tt.status || !strings.Contains(body, tt.body) {
			t.Errorf("%s: %d %s, want %d with %q", tt.name, status, body, tt.status, tt.body)
		}
		if status == 401 && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), `Bearer realm="keyward"`) {
			t.Errorf("%s: WWW-Authenticate %q", tt.name, hdr.Get("WWW-Authenticate"))
		}
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit code %d after SIGINT-like shutdown: %s", code, logs)
	}
	if !strings.Contains(logs.String(), "shutting down") {
		t.Fatal("no shutdown log")
	}
}

func TestGateCommandUpstream(t *testing.T) {
	t.Parallel()
	signer, set := gateKey(t)
	jwksSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(set)
	}))
	t.Cleanup(jwksSrv.Close)
	var mu sync.Mutex
	var seen http.Header
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Header.Clone()
		mu.Unlock()
		io.WriteString(w, "upstream "+r.URL.Path)
	}))
	t.Cleanup(up.Close)
	iss := jwksSrv.URL
	base, logs, stop := startGateCmd(t, nil, "--jwks-url", iss+"/jwks.json", "--issuer", iss,
		"--audience", "api", "--upstream", up.URL, "--public", "/open/*", "--cache-size", "0")
	if !strings.Contains(logs.String(), "cache_size=off") {
		t.Errorf("startup log: %s", logs)
	}
	tok, _ := signer.SignJWT("at+jwt", &jose.Claims{Issuer: iss, Subject: "bob", Audience: jose.Audience{"api"},
		Expiry: jose.NewNumericDate(time.Now().Add(time.Hour))})
	status, _, body := httpGet(t, base+"/v1/x", tok, "X-Auth-Subject", "root")
	if status != 200 || body != "upstream /v1/x" {
		t.Fatalf("%d %s", status, body)
	}
	mu.Lock()
	if got := seen.Values("X-Auth-Subject"); len(got) != 1 || got[0] != "bob" {
		t.Errorf("upstream saw X-Auth-Subject %q", got)
	}
	mu.Unlock()
	status, _, _ = httpGet(t, base+"/open/readme", "", "X-Auth-Subject", "root")
	mu.Lock()
	if status != 200 || seen.Get("X-Auth-Subject") != "" {
		t.Errorf("public path: %d, upstream saw %q", status, seen.Get("X-Auth-Subject"))
	}
	mu.Unlock()
	if status, _, _ := httpGet(t, base+"/v1/x", ""); status != 401 {
		t.Errorf("no token: %d", status)
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func TestGateCommandStartsWithoutKeys(t *testing.T) {
	t.Parallel()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "starting", http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)
	base, _, stop := startGateCmd(t, nil, "--issuer", down.URL, "--audience", "api")
	signer, _ := gateKey(t)
	tok, _ := signer.SignJWT("JWT", &jose.Claims{Issuer: down.URL, Audience: jose.Audience{"api"}, Expiry: jose.NewNumericDate(time.Now().Add(time.Hour))})
	status, hdr, _ := httpGet(t, base+"/protected", tok)
	if status != 503 || hdr.Get("Retry-After") == "" {
		t.Fatalf("status %d Retry-After %q", status, hdr.Get("Retry-After"))
	}
	if status, _, _ := httpGet(t, base+"/.keyward/healthz", ""); status != 503 {
		t.Fatalf("health %d", status)
	}
	if status, _, _ := httpGet(t, base+"/", ""); status != 200 {
		t.Fatalf("public %d", status)
	}
	stop()
}

func TestGateCommandUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no issuer", []string{"--jwks-url", "http://127.0.0.1:1/jwks.json", "--audience", "api"}, "without --issuer"},
		{"no audience", []string{"--issuer", "http://127.0.0.1:1"}, "without --audience"},
		{"neither", nil, "without --issuer and --audience"},
		{"bad algs", []string{"--issuer", "http://127.0.0.1:1", "--audience", "api", "--algs", "none"}, "--algs"},
		{"bad upstream", []string{"--issuer", "http://127.0.0.1:1", "--audience", "api", "--upstream", "localhost:8080"}, "--upstream"},
		{"bad public", []string{"--issuer", "http://127.0.0.1:1", "--audience", "api", "--public", "static"}, "public path"},
		{"negative cache", []string{"--issuer", "http://127.0.0.1:1", "--audience", "api", "--cache-size", "-1"}, "--cache-size"},
		{"bad token type", []string{"--issuer", "http://127.0.0.1:1", "--audience", "api", "--token-type", "JWT"}, "--token-type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stderr syncBuffer
			a := &app{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &stderr,
				lookupEnv: func(string) (string, bool) { return "", false }, now: time.Now}
			code := a.run(t.Context(), append([]string{"gate", "--listen", "127.0.0.1:0"}, tt.args...))
			if code != 2 || !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr.String(), tt.want)
			}
		})
	}
}

// TestGateTokenType: an ID token that the issuer gave a client (typ JWT,
// aud the client's ID) passes a gate whose --audience is that client's ID
// as if it were an access token; with --token-type at+jwt (flag or
// environment) the gate takes only RFC 9068 access tokens (RFC 9068 §4).
func TestGateTokenType(t *testing.T) {
	t.Parallel()
	signer, set := gateKey(t)
	jwksSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(set)
	}))
	t.Cleanup(jwksSrv.Close)
	iss := jwksSrv.URL
	const client = "web-app"
	sign := func(typ string) string {
		now := time.Now()
		c := &jose.Claims{Issuer: iss, Subject: "alice", Audience: jose.Audience{client},
			IssuedAt: jose.NewNumericDate(now), Expiry: jose.NewNumericDate(now.Add(time.Hour)),
			Extra: map[string]any{"azp": client, "nonce": "n-0S6_WzA2Mj"}}
		tok, err := signer.SignJWT(typ, c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	idToken, accessToken := sign(issuer.IDTokenType), sign(issuer.AccessTokenType)
	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		wantID     int
		wantLogged string
	}{
		{name: "default", wantID: http.StatusOK, wantLogged: "token_types=at+jwt,JWT"},
		{name: "flag", args: []string{"--token-type", "at+jwt"}, wantID: http.StatusUnauthorized, wantLogged: "token_types=at+jwt "},
		{name: "environment", env: map[string]string{"KEYWARD_TOKEN_TYPE": "at+jwt"}, wantID: http.StatusUnauthorized, wantLogged: "token_types=at+jwt "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base, logs, stop := startGateCmd(t, tt.env, append([]string{"--jwks-url", iss + "/jwks.json", "--issuer", iss,
				"--audience", client, "--algs", "RS256"}, tt.args...)...)
			if !strings.Contains(logs.String(), tt.wantLogged) {
				t.Errorf("the start-up line lacks %q: %s", tt.wantLogged, logs)
			}
			status, hdr, body := httpGet(t, base+"/protected", idToken)
			if status != tt.wantID {
				t.Errorf("ID token: %d %s, want %d", status, body, tt.wantID)
			}
			if status == http.StatusUnauthorized && !strings.Contains(hdr.Get("WWW-Authenticate"), `error_description="token type not accepted"`) {
				t.Errorf("ID token: WWW-Authenticate %q", hdr.Get("WWW-Authenticate"))
			}
			if status, _, body := httpGet(t, base+"/protected", accessToken); status != http.StatusOK {
				t.Errorf("access token: %d %s", status, body)
			}
			if code := stop(); code != 0 {
				t.Fatalf("exit %d: %s", code, logs)
			}
		})
	}
}

// TestLoggerRequestID: a line logged with a request's context carries its
// request ID once, whether or not the line names it itself.
func TestLoggerRequestID(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger, err := newLogger(&buf, "text", "info")
	if err != nil {
		t.Fatal(err)
	}
	ctx := httpx.WithRequestID(t.Context(), "req-1")
	logger.InfoContext(ctx, "plain")
	logger.InfoContext(ctx, "named", slog.String("request_id", "req-1"))
	logger.InfoContext(t.Context(), "none")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	for i, want := range []int{1, 1, 0} {
		if got := strings.Count(lines[i], "request_id=req-1"); got != want {
			t.Errorf("line %q has request_id %d times, want %d", lines[i], got, want)
		}
	}
}
