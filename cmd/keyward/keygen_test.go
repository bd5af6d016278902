package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/jose"
)

// TestKeygenFiles checks the modes and formats of keygen's files, that an
// existing file is never overwritten without --force, and that --force
// replaces it with the right mode.
func TestKeygenFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	priv, pub, jwk := filepath.Join(dir, "k.pem"), filepath.Join(dir, "k.pub.pem"), filepath.Join(dir, "k.jwk")
	kid := strings.TrimSpace(mustRun(t, "keygen", "--alg", "ES256", "--out", priv, "--pub", pub, "--jwk", jwk))

	for path, mode := range map[string]os.FileMode{priv: 0o600, pub: 0o644, jwk: 0o644} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		// The umask may narrow a public file's mode, never widen a private one.
		if got := fi.Mode().Perm(); got&^mode != 0 || (mode == 0o600 && got != 0o600) {
			t.Errorf("%s: mode %v, want %v", filepath.Base(path), got, mode)
		}
	}
	privPEM := read(t, priv)
	if !bytes.HasPrefix(privPEM, []byte("-----BEGIN PRIVATE KEY-----\n")) {
		t.Errorf("private key is not PKCS#8 PEM:\n%.40s", privPEM)
	}
	if !bytes.HasPrefix(read(t, pub), []byte("-----BEGIN PUBLIC KEY-----\n")) {
		t.Error("public key is not PKIX PEM")
	}
	k, err := jose.ParseJWK(read(t, jwk))
	if err != nil {
		t.Fatal(err)
	}
	if k.KeyID != kid || k.Algorithm != jose.ES256 || !k.IsPublic() {
		t.Errorf("JWK kid %q alg %q public %v; want kid %q, ES256, public", k.KeyID, k.Algorithm, k.IsPublic(), kid)
	}

	// No overwrite without --force, for any of the three files, and
	// nothing written when one of them exists.
	fresh := filepath.Join(dir, "fresh.pem")
	for _, args := range [][]string{
		{"--out", priv},
		{"--out", fresh, "--pub", pub},
		{"--out", fresh, "--jwk", jwk},
	} {
		r := kw(t, append([]string{"keygen", "--alg", "EdDSA"}, args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, "--force") {
			t.Errorf("keygen %v over an existing file: exit %d, %q", args, r.code, r.stderr)
		}
		oneErrorLine(t, r.stderr, "keyward: ")
	}
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Errorf("keygen wrote %s although another output existed", fresh)
	}
	if !bytes.Equal(read(t, priv), privPEM) {
		t.Fatal("the private key was overwritten without --force")
	}

	// --force replaces the file, and a key file left world-readable gets
	// 0600 back.
	if err := os.Chmod(priv, 0o644); err != nil {
		t.Fatal(err)
	}
	kid2 := strings.TrimSpace(mustRun(t, "keygen", "--alg", "EdDSA", "--out", priv, "--force"))
	if kid2 == kid || bytes.Equal(read(t, priv), privPEM) {
		t.Error("--force did not replace the key")
	}
	if fi, _ := os.Stat(priv); fi.Mode().Perm() != 0o600 {
		t.Errorf("after --force: mode %v, want 0600", fi.Mode().Perm())
	}
	if key, err := jose.ParseKeyPEM(read(t, priv)); err != nil {
		t.Error(err)
	} else if alg, _ := jose.DefaultAlgorithm(key); alg != jose.EdDSA {
		t.Errorf("replaced key is for %s, want EdDSA", alg)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

// TestJWKSCommand checks keyward jwks on private keys, public keys, a
// certificate and duplicates.
func TestJWKSCommand(t *testing.T) {
	t.Parallel()
	out := mustRun(t, "jwks", testKey("rsa2048.pem"), testKey("rsa2048.pub.pem"), testKey("p256-cert.pem"), testKey("ed25519.pem"), testKey("p521.pem"))
	if strings.Contains(out, `"d"`) || strings.Contains(out, `"p"`) {
		t.Fatalf("the JWK set holds private members:\n%s", out)
	}
	set, err := jose.ParseJWKS([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	var algs []jose.Algorithm
	for _, k := range set.Keys {
		algs = append(algs, k.Algorithm)
		if tp, _ := k.Thumbprint(); tp != k.KeyID || k.Use != "sig" {
			t.Errorf("key %s: kid %q use %q, want the thumbprint and sig", k.Algorithm, k.KeyID, k.Use)
		}
	}
	want := []jose.Algorithm{jose.RS256, jose.ES256, jose.EdDSA, jose.ES512}
	if !slices.Equal(algs, want) {
		t.Errorf("algorithms %v, want %v (the RSA key once)", algs, want)
	}

	bound, err := jose.ParseJWKS([]byte(mustRun(t, "jwks", "--alg", "PS384", testKey("rsa2048.pem"))))
	if err != nil || len(bound.Keys) != 1 || bound.Keys[0].Algorithm != jose.PS384 {
		t.Errorf("--alg PS384: %v %v", bound, err)
	}
	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{"jwks", "--alg", "ES256", testKey("rsa2048.pem")}, 1},
		{[]string{"jwks", testKey("rsa1024.pem")}, 1},
		{[]string{"jwks", "testdata/keys/missing.pem"}, 1},
		{[]string{"jwks", "--alg", "HS256", testKey("rsa2048.pem")}, 2},
		{[]string{"jwks"}, 2},
	} {
		r := kw(t, tt.args...)
		if r.code != tt.code || r.stdout != "" {
			t.Errorf("%v: exit %d, stdout %q; want %d and nothing", tt.args, r.code, r.stdout, tt.code)
		}
		oneErrorLine(t, r.stderr, "keyward: ")
	}
}

// TestUsageExitCodes checks that bad usage exits 2 with one line that
// points at the help, and that help itself exits 0.
func TestUsageExitCodes(t *testing.T) {
	t.Parallel()
	key := testKey("p256.pem")
	tests := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"no command", nil, nil},
		{"unknown command", nil, []string{"frobnicate"}},
		{"group without subcommand", nil, []string{"token"}},
		{"unknown subcommand", nil, []string{"token", "frobnicate"}},
		{"unknown flag", nil, []string{"token", "sign", "--key", key, "--bogus"}},
		{"missing argument", nil, []string{"token", "verify", "--key", key}},
		{"extra argument", nil, []string{"token", "inspect", "a.b.c", "d.e.f"}},
		{"flag value", nil, []string{"token", "sign", "--key", key, "--ttl", "soon"}},
		{"environment value", map[string]string{"KEYWARD_TTL": "soon"}, []string{"token", "sign", "--key", key}},
		{"required flag", nil, []string{"keygen"}},
		{"bad algorithm", nil, []string{"keygen", "--alg", "none", "--out", "x.pem"}},
		{"bits on EC", nil, []string{"keygen", "--alg", "ES256", "--bits", "4096", "--out", "x.pem"}},
		{"small RSA", nil, []string{"keygen", "--bits", "1024", "--out", "x.pem"}},
		{"same file twice", nil, []string{"keygen", "--out", "x.pem", "--pub", "x.pem"}},
		{"no key source", nil, []string{"token", "verify", "a.b.c"}},
		{"two key sources", nil, []string{"token", "verify", "--key", key, "--jwks", "x.json", "a.b.c"}},
		{"key and secret", nil, []string{"token", "sign", "--key", key, "--secret-file", "s"}},
		{"bad --algs", nil, []string{"token", "verify", "--key", key, "--algs", "RS256,none", "a.b.c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := invocation{env: tt.env}.kw(t, tt.args...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2; stderr %q", r.code, r.stderr)
			}
			oneErrorLine(t, r.stderr, "keyward: ")
			if !strings.Contains(r.stderr, "--help') ") && !strings.HasSuffix(r.stderr, "--help')\n") {
				t.Errorf("stderr %q does not point at --help", r.stderr)
			}
		})
	}
	for _, args := range [][]string{{"--help"}, {"token", "sign", "--help"}, {"help", "keygen"}} {
		if r := kw(t, args...); r.code != 0 || !strings.Contains(r.stdout, "Usage:") {
			t.Errorf("%v: exit %d, stdout %.60q", args, r.code, r.stdout)
		}
	}
}

// TestEnvironment checks KEYWARD_<FLAG> for the commands of this file,
// and that a flag given on the command line wins.
func TestEnvironment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "env.pem")
	env := map[string]string{"KEYWARD_OUT": out, "KEYWARD_ALG": "ES384"}
	r := invocation{env: env}.kw(t, "keygen")
	if r.code != 0 {
		t.Fatalf("keygen from the environment: exit %d, %s", r.code, r.stderr)
	}
	if key, err := jose.ParseKeyPEM(read(t, out)); err != nil {
		t.Fatal(err)
	} else if alg, _ := jose.DefaultAlgorithm(key); alg != jose.ES384 {
		t.Errorf("KEYWARD_ALG=ES384 made a key for %s", alg)
	}

	env = map[string]string{
		"KEYWARD_KEY":   testKey("rsa2048.pem"),
		"KEYWARD_ALG":   "PS256",
		"KEYWARD_CLAIM": "tier=3",
		"KEYWARD_AUD":   "from-env",
		"KEYWARD_SUB":   "",
	}
	token := strings.TrimSpace(invocation{env: env}.kw(t, "token", "sign", "--alg", "RS384", "--aud", "from-flag").stdout)
	v := parseVerified(t, mustRun(t, "token", "verify", "--key", testKey("rsa2048.pub.pem"), token))
	if v.Header["alg"] != "RS384" || v.Claims["aud"] != "from-flag" || v.Claims["tier"] != 3.0 {
		t.Errorf("header %v claims %v: want the flags' alg RS384 and aud, and tier=3 from the environment", v.Header, v.Claims)
	}
	if _, ok := v.Claims["sub"]; ok {
		t.Error("an empty KEYWARD_SUB set sub")
	}

	// Verification options from the environment.
	env = map[string]string{"KEYWARD_KEY": testKey("rsa2048.pub.pem"), "KEYWARD_AUD": "other", "KEYWARD_EXPLAIN": "true"}
	r = invocation{env: env}.kw(t, "token", "verify", token)
	if r.code != 1 || !strings.Contains(r.stderr, "aud is from-flag, want other") {
		t.Errorf("verify with KEYWARD_AUD: exit %d, %q", r.code, r.stderr)
	}
}

// read returns a file's contents.
func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
