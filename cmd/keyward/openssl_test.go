package main

import (
	"context"
	"encoding/asn1"
	"encoding/base64"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// requireOpenSSL returns the openssl command, or skips the test when it is
// not on PATH, unless KEYWARD_REQUIRE_OPENSSL is set (CI sets it), in which
// case its absence fails the test.
func requireOpenSSL(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("KEYWARD_REQUIRE_OPENSSL") != "" {
			t.Fatal("openssl is not on PATH and KEYWARD_REQUIRE_OPENSSL is set")
		}
		t.Skip("openssl is not on PATH")
	}
	return path
}

// openssl runs openssl with args in dir and fails the test if it fails.
func openssl(t *testing.T, dir string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, requireOpenSSL(t), args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestOpenSSLKeys signs with keys made by the openssl commands of the
// classic recipe, exactly as they are written, and verifies with the
// public keys and certificates openssl derives from them, and with the JWK
// set keyward jwks makes of those.
func TestOpenSSLKeys(t *testing.T) {
	t.Parallel()
	requireOpenSSL(t)
	tests := []struct {
		name          string
		alg           string // the token's algorithm
		gen           [][]string
		pub           []string // derives pub.pem from k.pem
		firstPEMBlock string
	}{
		{
			name: "genrsa",
			alg:  "RS256",
			gen:  [][]string{{"genrsa", "-out", "k.pem", "2048"}},
			pub:  []string{"rsa", "-in", "k.pem", "-pubout", "-out", "pub.pem"},
		},
		{
			name: "genrsa PKCS#1 PS256",
			alg:  "PS256",
			gen: [][]string{
				{"genrsa", "-out", "k8.pem", "2048"},
				{"rsa", "-in", "k8.pem", "-traditional", "-out", "k.pem"},
			},
			pub:           []string{"rsa", "-in", "k.pem", "-RSAPublicKey_out", "-out", "pub.pem"},
			firstPEMBlock: "-----BEGIN RSA PRIVATE KEY-----",
		},
		{
			name:          "ecparam -noout",
			alg:           "ES256",
			gen:           [][]string{{"ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "k.pem"}},
			pub:           []string{"ec", "-in", "k.pem", "-pubout", "-out", "pub.pem"},
			firstPEMBlock: "-----BEGIN EC PRIVATE KEY-----",
		},
		{
			name:          "ecparam with EC PARAMETERS",
			alg:           "ES256",
			gen:           [][]string{{"ecparam", "-name", "prime256v1", "-genkey", "-out", "k.pem"}},
			pub:           []string{"ec", "-in", "k.pem", "-pubout", "-out", "pub.pem"},
			firstPEMBlock: "-----BEGIN EC PARAMETERS-----",
		},
		{
			name: "ecparam secp384r1",
			alg:  "ES384",
			gen:  [][]string{{"ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", "k.pem"}},
			pub:  []string{"ec", "-in", "k.pem", "-pubout", "-out", "pub.pem"},
		},
		{
			name: "ecparam secp521r1",
			alg:  "ES512",
			gen:  [][]string{{"ecparam", "-name", "secp521r1", "-genkey", "-noout", "-out", "k.pem"}},
			pub:  []string{"ec", "-in", "k.pem", "-pubout", "-out", "pub.pem"},
		},
		{
			name: "genpkey ed25519",
			alg:  "EdDSA",
			gen:  [][]string{{"genpkey", "-algorithm", "ed25519", "-out", "k.pem"}},
			pub:  []string{"pkey", "-in", "k.pem", "-pubout", "-out", "pub.pem"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for _, args := range tt.gen {
				openssl(t, dir, args...)
			}
			openssl(t, dir, tt.pub...)
			openssl(t, dir, "req", "-x509", "-key", "k.pem", "-subj", "/CN=keyward-test", "-days", "1", "-out", "cert.pem")
			if tt.firstPEMBlock != "" && !strings.HasPrefix(string(read(t, filepath.Join(dir, "k.pem"))), tt.firstPEMBlock) {
				t.Fatalf("k.pem does not start with %s", tt.firstPEMBlock)
			}
			path := func(name string) string { return filepath.Join(dir, name) }

			token := strings.TrimSpace(mustRun(t, "token", "sign", "--key", path("k.pem"), "--alg", tt.alg, "--claim", "userId=123"))
			jwks := path("jwks.json")
			if err := os.WriteFile(jwks, []byte(mustRun(t, "jwks", "--alg", tt.alg, path("pub.pem"))), 0o644); err != nil {
				t.Fatal(err)
			}
			certJWKS := path("cert-jwks.json")
			if err := os.WriteFile(certJWKS, []byte(mustRun(t, "jwks", "--alg", tt.alg, path("cert.pem"))), 0o644); err != nil {
				t.Fatal(err)
			}
			if a, b := keyIDs(t, jwks), keyIDs(t, certJWKS); len(a) != 1 || !slices.Equal(a, b) {
				t.Errorf("kids of the public key %v and of the certificate %v differ", a, b)
			}
			for _, source := range [][]string{
				{"--key", path("pub.pem")},
				{"--key", path("cert.pem")},
				{"--jwks", jwks},
				{"--jwks", certJWKS},
			} {
				args := append(append([]string{"token", "verify"}, source...), token)
				v := parseVerified(t, mustRun(t, args...))
				if v.Header["alg"] != tt.alg || v.Claims["userId"] != 123.0 {
					t.Errorf("%v: verified %v", source, v)
				}
				r := kw(t, append(args[:len(args)-1], tamper(t, token, 1))...)
				if r.code != 1 {
					t.Errorf("%v: tampered token exit %d, want 1", source, r.code)
				}
			}
		})
	}
}

// TestOpenSSLSignatures checks signatures across implementations: tokens
// keyward signs verify with openssl, and tokens whose signature openssl
// made verify with keyward.
func TestOpenSSLSignatures(t *testing.T) {
	t.Parallel()
	requireOpenSSL(t)
	tests := []struct {
		alg, key, pub string
		sign, verify  []string // openssl arguments before the input file
		ecdsaSize     int      // R and S length for ECDSA (DER in openssl)
	}{
		{
			alg: "RS256", key: "rsa2048.pem", pub: "rsa2048.pub.pem",
			sign:   []string{"dgst", "-sha256", "-sign", "KEY", "-out", "sig"},
			verify: []string{"dgst", "-sha256", "-verify", "PUB", "-signature", "sig"},
		},
		{
			alg: "PS256", key: "rsa2048.pem", pub: "rsa2048.pub.pem",
			sign:   []string{"dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest", "-sign", "KEY", "-out", "sig"},
			verify: []string{"dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest", "-verify", "PUB", "-signature", "sig"},
		},
		{
			alg: "ES256", key: "p256.pem", pub: "p256.pub.pem", ecdsaSize: 32,
			sign:   []string{"dgst", "-sha256", "-sign", "KEY", "-out", "sig"},
			verify: []string{"dgst", "-sha256", "-verify", "PUB", "-signature", "sig"},
		},
		{
			alg: "EdDSA", key: "ed25519.pem", pub: "ed25519.pub.pem",
			sign:   []string{"pkeyutl", "-sign", "-inkey", "KEY", "-rawin", "-out", "sig", "-in"},
			verify: []string{"pkeyutl", "-verify", "-pubin", "-inkey", "PUB", "-rawin", "-sigfile", "sig", "-in"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.alg, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			key, err := filepath.Abs(testKey(tt.key))
			if err != nil {
				t.Fatal(err)
			}
			pub, _ := filepath.Abs(testKey(tt.pub))
			args := func(tmpl []string) []string {
				out := make([]string, 0, len(tmpl)+1)
				for _, a := range tmpl {
					out = append(out, strings.NewReplacer("KEY", key, "PUB", pub).Replace(a))
				}
				return append(out, "input")
			}

			// keyward signs, openssl verifies.
			token := strings.TrimSpace(mustRun(t, "token", "sign", "--key", key, "--alg", tt.alg, "--sub", "keyward"))
			dot := strings.LastIndexByte(token, '.')
			input, sig := token[:dot], decode64(t, token[dot+1:])
			if tt.ecdsaSize > 0 {
				sig = toDER(t, sig, tt.ecdsaSize)
			}
			writeFile(t, dir, "input", []byte(input))
			writeFile(t, dir, "sig", sig)
			openssl(t, dir, args(tt.verify)...)

			// openssl signs, keyward verifies.
			header := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"alg":%q,"typ":"JWT"}`, tt.alg)))
			payload := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"sub":"openssl","exp":%d}`, t0.Add(time.Hour).Unix())))
			writeFile(t, dir, "input", []byte(header+"."+payload))
			os.Remove(filepath.Join(dir, "sig"))
			openssl(t, dir, args(tt.sign)...)
			sig = read(t, filepath.Join(dir, "sig"))
			if tt.ecdsaSize > 0 {
				sig = fromDER(t, sig, tt.ecdsaSize)
			}
			theirs := header + "." + payload + "." + base64.RawURLEncoding.EncodeToString(sig)
			v := parseVerified(t, mustRun(t, "token", "verify", "--key", pub, theirs))
			if v.Claims["sub"] != "openssl" {
				t.Errorf("verified %v", v)
			}
			if r := kw(t, "token", "verify", "--key", pub, tamper(t, theirs, 1)); r.code != 1 {
				t.Errorf("tampered openssl token: exit %d, want 1", r.code)
			}
		})
	}
}

func decode64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// ecdsaSig is the DER form of an ECDSA signature (RFC 3279 §2.2.3).
type ecdsaSig struct{ R, S *big.Int }

// toDER converts a JWS ECDSA signature (R‖S) to DER for openssl.
func toDER(t *testing.T, sig []byte, size int) []byte {
	t.Helper()
	if len(sig) != 2*size {
		t.Fatalf("ECDSA signature of %d bytes, want %d", len(sig), 2*size)
	}
	der, err := asn1.Marshal(ecdsaSig{new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// fromDER converts openssl's DER ECDSA signature to R‖S.
func fromDER(t *testing.T, der []byte, size int) []byte {
	t.Helper()
	var s ecdsaSig
	if rest, err := asn1.Unmarshal(der, &s); err != nil || len(rest) > 0 {
		t.Fatalf("openssl wrote a malformed ECDSA signature: %v", err)
	}
	out := make([]byte, 2*size)
	s.R.FillBytes(out[:size])
	s.S.FillBytes(out[size:])
	return out
}
