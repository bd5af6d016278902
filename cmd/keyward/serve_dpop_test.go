package main

import (
	"crypto"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"

	"github.com/keyward/keyward/dpop"
	"github.com/keyward/keyward/issuer"
	"github.com/keyward/keyward/jose"
)

// TestServeDPoPNonce: serve --dpop-nonce answers a proof without a nonce
// with use_dpop_nonce and a DPoP-Nonce header, and a restarted process
// accepts the nonce, its secret being derived from the master key. With a
// --signing-key that signs RS256 the master key is created for the nonces.
func TestServeDPoPNonce(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	args := []string{"--data", data, "--dpop-nonce", "--signing-key", testKey("rsa2048.pem")}
	p := startServe(t, nil, args...)
	if _, err := os.Stat(filepath.Join(data, "master.key")); err != nil {
		t.Fatalf("no master key for the nonces: %v", err)
	}
	var client struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	out := mustRun(t, "client", "add", "svc", "--grant", "client_credentials", "--data", data, "--json")
	if err := json.Unmarshal([]byte(out), &client, json.RejectUnknownMembers(false)); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	jwk, err := jose.ParseKeyPEM(mustRead(t, testKey("p256.pem")))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := dpop.NewProofSigner(jwk.(crypto.Signer), "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The htu is the token endpoint under --issuer, whatever the address
	// the process listens on.
	htu := &url.URL{Scheme: "http", Host: "localhost:4000", Path: "/token"}
	token := func(p *serveProc, nonce string) (int, string, string) {
		t.Helper()
		proof, err := signer.Sign(http.MethodPost, htu, "", nonce)
		if err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, p.url("/token"),
			strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(client.ID, client.Secret)
		req.Header.Set(dpop.Header, proof)
		resp, err := httpClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header.Get(dpop.NonceHeader)
	}
	code, body, nonce := token(p, "")
	if code != http.StatusBadRequest || !strings.Contains(body, issuer.CodeUseDPoPNonce) || nonce == "" {
		t.Fatalf("proof without a nonce: %d %s, DPoP-Nonce %q", code, body, nonce)
	}
	p.kill(t)
	p = startServe(t, nil, args...)
	code, body, _ = token(p, nonce)
	if code != http.StatusOK || !strings.Contains(body, `"token_type":"DPoP"`) {
		t.Fatalf("proof with the nonce of the previous process: %d %s", code, body)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
