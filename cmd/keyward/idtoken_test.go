package main

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"
)

// TestServeIDTokenAlgorithms starts serve with several algorithms and
// static keys and checks that discovery offers RS256 ID tokens in every
// case, never an algorithm the JWKS has no key for, and that a static key
// that cannot sign RS256 gets a stored RS256 ID-token key.
func TestServeIDTokenAlgorithms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		args      []string
		idTokens  []string
		keys      []string // algorithms of the published keys, sorted
		masterKey bool     // whether serve creates <data>/master.key
	}{
		{name: "ES256", args: []string{"--alg", "ES256"}, idTokens: []string{"RS256", "ES256"}, keys: []string{"ES256", "RS256"}, masterKey: true},
		{name: "EdDSA", args: []string{"--alg", "EdDSA"}, idTokens: []string{"RS256", "EdDSA"}, keys: []string{"EdDSA", "RS256"}, masterKey: true},
		{name: "static P-256 key", args: []string{"--signing-key", testKey("p256.pem")}, idTokens: []string{"RS256", "ES256"}, keys: []string{"ES256", "RS256"}, masterKey: true},
		{name: "static RSA key", args: []string{"--signing-key", testKey("rsa2048.pem"), "--alg", "ES256"}, idTokens: []string{"RS256"}, keys: []string{"RS256"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data := filepath.Join(t.TempDir(), "data")
			p := startServe(t, nil, append([]string{"--data", data}, tt.args...)...)
			resp, err := httpClient().Get(p.url("/.well-known/openid-configuration"))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var md struct {
				IDTokenAlgs []string `json:"id_token_signing_alg_values_supported"`
			}
			if err := json.Unmarshal(b, &md); err != nil || !slices.Equal(md.IDTokenAlgs, tt.idTokens) {
				t.Fatalf("id_token_signing_alg_values_supported %v (%v), want %v", md.IDTokenAlgs, err, tt.idTokens)
			}
			var published []string
			for _, k := range p.jwks(t).Keys {
				published = append(published, string(k.Algorithm))
			}
			if slices.Sort(published); !slices.Equal(published, tt.keys) {
				t.Fatalf("JWKS algorithms %v, want %v", published, tt.keys)
			}
			if want := "id_token_algs=" + strings.Join(tt.idTokens, ","); !strings.Contains(p.stderr.String(), want) {
				t.Errorf("the listening line lacks %s:\n%s", want, p.stderr.String())
			}
			_, err = os.Stat(filepath.Join(data, "master.key"))
			if created := err == nil; created != tt.masterKey {
				t.Errorf("master.key created: %v, want %v", created, tt.masterKey)
			}
		})
	}
}
