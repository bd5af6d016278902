package main

import (
	"strings"
	"testing"
)

// TestServeTrustedProxies checks --trusted-proxies: read from the flag or
// KEYWARD_TRUSTED_PROXIES, and a malformed list is a usage error (exit 2)
// naming the flag, before anything binds or is created.
func TestServeTrustedProxies(t *testing.T) {
	t.Parallel()
	code, out, errOut := runKeyward(t, map[string]string{"KEYWARD_TRUSTED_PROXIES": "10.0.0.0/8,192.0.2.1"}, "serve", "--print-config")
	if code != 0 || !strings.Contains(out, "trusted-proxies: 10.0.0.0/8,192.0.2.1\n") {
		t.Fatalf("exit %d, config:\n%s%s", code, out, errOut)
	}
	dir := t.TempDir()
	code, _, errOut = runKeyward(t, nil, "serve", "--data", dir, "--listen", "127.0.0.1:0", "--trusted-proxies", "10.0.0.0/8,proxy.example")
	if code != 2 || !strings.Contains(errOut, "--trusted-proxies") {
		t.Fatalf("exit %d, stderr %q: want 2 naming --trusted-proxies", code, errOut)
	}
}
