package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestServePasskeys checks that keyward serve turns passkeys on for an
// issuer browsers run WebAuthn for (the default http://localhost:4000) and
// off, with a warning that says why, for any other.
func TestServePasskeys(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		args   []string
		log    string
		status int
	}{
		{"localhost", nil, "msg=passkeys_enabled rp_id=localhost origin=http://localhost:4000", http.StatusOK},
		{"ip address", []string{"--issuer", "http://127.0.0.1:4000"}, "level=WARN msg=passkeys_disabled issuer=http://127.0.0.1:4000", http.StatusNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := startServe(t, nil, append([]string{"--data", filepath.Join(t.TempDir(), "data"), "--alg", "ES256"}, tt.args...)...)
			if !strings.Contains(p.stderr.String(), tt.log) {
				t.Errorf("log lacks %q:\n%s", tt.log, p.stderr.String())
			}
			resp, err := httpClient().Get(p.url("/passkeys.js"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("GET /passkeys.js: %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
}
