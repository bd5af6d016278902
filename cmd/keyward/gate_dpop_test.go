package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/dpop"
	"github.com/keyward/keyward/jose"
)

func TestGateDPoPUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("too short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"--issuer", "http://127.0.0.1:1", "--audience", "api"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad mode", []string{"--dpop", "on"}, "--dpop"},
		{"origin with a path", []string{"--dpop", "allowed", "--public-origin", "https://api.example.com/v1"}, "--public-origin"},
		{"origin without a scheme", []string{"--dpop", "allowed", "--public-origin", "api.example.com"}, "--public-origin"},
		{"short nonce secret", []string{"--dpop", "required", "--dpop-nonce-secret-file", short}, "at least 32"},
		{"nonce secret without DPoP", []string{"--dpop-nonce-secret-file", short}, "needs --dpop"},
		{"zero window", []string{"--dpop", "required", "--dpop-window", "0s"}, "--dpop-window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stderr syncBuffer
			a := &app{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &stderr,
				lookupEnv: func(string) (string, bool) { return "", false }, now: time.Now}
			code := a.run(t.Context(), append(append([]string{"gate", "--listen", "127.0.0.1:0"}, base...), tt.args...))
			if code != 2 || !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr.String(), tt.want)
			}
			if strings.Contains(stderr.String(), "too short") {
				t.Error("the error quotes the secret")
			}
		})
	}
}

// TestGateDPoPCommand runs `keyward gate --dpop required` behind a
// pretended TLS terminator with server nonces: a DPoP-bound token passes
// with a proof for the public URL and the gate's nonce, after one
// use_dpop_nonce round.
func TestGateDPoPCommand(t *testing.T) {
	t.Parallel()
	signer, set := gateKey(t)
	jwksSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(set)
	}))
	t.Cleanup(jwksSrv.Close)
	iss := jwksSrv.URL
	secret := filepath.Join(t.TempDir(), "nonce.secret")
	if err := os.WriteFile(secret, []byte("0123456789abcdef0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base, logs, stop := startGateCmd(t, map[string]string{"KEYWARD_DPOP": "required"},
		"--jwks-url", iss+"/jwks.json", "--issuer", iss, "--audience", "api",
		"--public-origin", "https://api.example.com", "--dpop-nonce-secret-file", secret)
	if !strings.Contains(logs.String(), "dpop=\"required, window 1m0s, nonces every 1m0s, public origin https://api.example.com\"") {
		t.Errorf("startup log: %s", logs)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	client, err := dpop.NewProofSigner(key, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := signer.SignJWT("at+jwt", &jose.Claims{Issuer: iss, Subject: "carol", Audience: jose.Audience{"api"},
		Expiry: jose.NewNumericDate(time.Now().Add(time.Hour)), Extra: map[string]any{"cnf": map[string]any{"jkt": client.JKT()}}})
	if err != nil {
		t.Fatal(err)
	}
	public, _ := url.Parse("https://api.example.com/protected")
	send := func(nonce string) (int, http.Header, string) {
		proof, err := client.Sign("GET", public, tok, nonce)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/protected", nil)
		req.Header.Set("Authorization", "DPoP "+tok)
		req.Header.Set("DPoP", proof)
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	status, hdr, body := send("")
	nonce := hdr.Get("DPoP-Nonce")
	if status != 401 || nonce == "" || !strings.Contains(hdr.Get("WWW-Authenticate"), `error="use_dpop_nonce"`) {
		t.Fatalf("without a nonce: %d %v %s", status, hdr, body)
	}
	if status, _, body := send(nonce); status != 200 || !strings.Contains(body, `"sub":"carol"`) {
		t.Fatalf("with the nonce: %d %s", status, body)
	}
	if status, hdr, _ := httpGet(t, base+"/protected", tok); status != 401 || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "DPoP ") {
		t.Fatalf("the bound token as Bearer: %d %v", status, hdr)
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
