package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestVerifyRemote checks token verify --jwks URL and --issuer URL against
// an issuer on 127.0.0.1 that publishes discovery metadata and a JWK set.
func TestVerifyRemote(t *testing.T) {
	t.Parallel()
	set := mustRun(t, "jwks", testKey("p256.pem"), testKey("ed25519.pem"))
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	mux.HandleFunc("GET /jwks.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		fmt.Fprint(w, set)
	})
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, srv.URL, srv.URL+"/jwks.json")
	})

	good := strings.TrimSpace(mustRun(t, "token", "sign", "--key", testKey("ed25519.pem"), "--iss", srv.URL, "--aud", "api"))
	other := strings.TrimSpace(mustRun(t, "token", "sign", "--key", testKey("p256.pem"), "--iss", "https://other.example"))
	unknown := strings.TrimSpace(mustRun(t, "token", "sign", "--key", testKey("p256.pem"), "--kid", "retired-key", "--iss", srv.URL))
	tests := []struct {
		name  string
		args  []string
		code  int
		error string
	}{
		{"jwks url", []string{"--jwks", srv.URL + "/jwks.json", good}, 0, ""},
		{"issuer", []string{"--issuer", srv.URL, "--aud", "api", good}, 0, ""},
		{"issuer checks iss", []string{"--issuer", srv.URL, other}, 1, "iss is \"https://other.example\", want " + srv.URL},
		{"--iss wins over --issuer", []string{"--issuer", srv.URL, "--iss", "https://other.example", other}, 0, ""},
		{"jwks url checks aud", []string{"--jwks", srv.URL + "/jwks.json", "--aud", "web", good}, 1, "aud is api, want web"},
		{"key not in the set", []string{"--jwks", srv.URL + "/jwks.json", unknown}, 1, `kid "retired-key" is not in the key set [`},
		{"algorithm of no key", []string{"--jwks", srv.URL + "/jwks.json", strings.TrimSpace(mustRun(t, "token", "sign", "--key", testKey("p384.pem")))}, 1, "ES384 is not in the allowlist [ES256,EdDSA]"},
		{"jwks url not found", []string{"--jwks", srv.URL + "/missing.json", good}, 1, "keyward: jwks: fetch failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := kw(t, append([]string{"token", "verify", "--explain"}, tt.args...)...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %q", r.code, tt.code, r.stderr)
			}
			if tt.code == 0 {
				parseVerified(t, r.stdout)
				return
			}
			oneErrorLine(t, r.stderr, "keyward: ")
			if !strings.Contains(r.stderr, tt.error) {
				t.Errorf("stderr %q, want it to contain %q", r.stderr, tt.error)
			}
		})
	}
}
