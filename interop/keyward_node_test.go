package interop_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/jose"
)

// The issuer and audience the keyward processes of these tests use.
const (
	serveIssuer   = "http://issuer.interop.test"
	serveAudience = "api"
)

var (
	serveReady = regexp.MustCompile(`msg=listening addr=(127\.0\.0\.1:\d+)`)
	gateReady  = regexp.MustCompile(`msg=gate_listening addr=(127\.0\.0\.1:\d+)`)
)

// startServe starts `keyward serve` signing with alg on a fresh data
// directory and returns its base URL and the admin password it wrote.
func startServe(t *testing.T, alg jose.Algorithm) (base, password string) {
	t.Helper()
	bin := keywardBinary(t)
	data := filepath.Join(t.TempDir(), "keyward-data")
	_, m := start(t, t.TempDir(), nil, serveReady, bin, "serve",
		"--listen", "127.0.0.1:0", "--issuer", serveIssuer, "--audience", serveAudience,
		"--alg", string(alg), "--data", data, "--log-level", "info")
	pw, err := os.ReadFile(filepath.Join(data, "admin-password"))
	if err != nil {
		t.Fatalf("keyward serve wrote no admin password: %v", err)
	}
	return "http://" + m[1], strings.TrimSpace(string(pw))
}

// login gets an access token from keyward serve's POST /login.
func login(t *testing.T, base, user, password string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/login", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		Error       string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
		t.Fatalf("POST /login: status %d: %v", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK || tr.AccessToken == "" || !strings.EqualFold(tr.TokenType, "Bearer") {
		t.Fatalf("POST /login: status %d, error %q, token_type %q", resp.StatusCode, tr.Error, tr.TokenType)
	}
	return tr.AccessToken
}

// headerAlg returns the alg of a token's header, read without verifying.
func headerAlg(t *testing.T, token string) jose.Algorithm {
	t.Helper()
	j, err := jose.Parse(token)
	if err != nil {
		t.Fatal(err)
	}
	return j.Header.Algorithm
}

// TestServeTokensInNode logs in to `keyward serve` signing with RS256,
// ES256 and EdDSA and presents the access tokens to the classic Express
// recipe (express-jwt + jwks-rsa, RS256 and ES256) and to panva/jose (all
// three), both reading serve's /jwks.json.
func TestServeTokensInNode(t *testing.T) {
	nodeProject(t)
	for _, alg := range []jose.Algorithm{jose.RS256, jose.ES256, jose.EdDSA} {
		t.Run(string(alg), func(t *testing.T) {
			base, password := startServe(t, alg)
			token := login(t, base, "admin", password)
			if got := headerAlg(t, token); got != alg {
				t.Fatalf("keyward serve --alg %s signed with %s", alg, got)
			}
			cases := []tokenCase{
				{name: "valid", token: token, wantOK: true},
				{name: "tampered", token: tamper(t, token)},
			}
			if alg != jose.EdDSA {
				app := startExpress(t, base+"/jwks.json", serveIssuer, serveAudience)
				client := &http.Client{Timeout: 10 * time.Second}
				if status, _ := httpGet(t, client, app+"/", ""); status != http.StatusOK {
					t.Fatalf("GET / on the Express app: %d", status)
				}
				checkProtected(t, app, "keyward-serve", "express-jwt", alg, append(cases, tokenCase{name: "none"}))
			}
			checkJose(t, base+"/jwks.json", serveIssuer, serveAudience, "keyward-serve", alg, cases)
		})
	}
}

// nodeKey makes a key with openssl, as the Node recipe does, and returns
// the paths of the private and public PEM files.
func nodeKey(t *testing.T, alg jose.Algorithm) (private, public string) {
	t.Helper()
	dir := t.TempDir()
	private, public = filepath.Join(dir, "private.pem"), filepath.Join(dir, "public.pem")
	var gen, pub []string
	switch alg {
	case jose.RS256, jose.PS256:
		gen = []string{"genrsa", "-out", private, "2048"}
		pub = []string{"rsa", "-in", private, "-pubout", "-out", public}
	case jose.ES256:
		gen = []string{"ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", private}
		pub = []string{"ec", "-in", private, "-pubout", "-out", public}
	default:
		t.Fatalf("no openssl recipe for %s", alg)
	}
	for _, args := range [][]string{gen, pub} {
		if _, stderr, code := run(t, dir, nil, "", "openssl", args...); code != 0 {
			t.Fatalf("openssl %s: exit %d: %s", strings.Join(args, " "), code, stderr)
		}
	}
	return private, public
}

// TestJSONWebTokenTokensInKeyward is the other direction: keys made with
// openssl, tokens signed by jsonwebtoken, verified by `keyward token verify
// --key` and by `keyward gate` reading a JWKS made by `keyward jwks`.
func TestJSONWebTokenTokensInKeyward(t *testing.T) {
	nodeProject(t)
	if _, _, code := run(t, ".", nil, "", "openssl", "version"); code != 0 {
		t.Fatal("openssl is not usable")
	}
	bin := keywardBinary(t)
	const iss, aud = "https://node-issuer.example", "orders-api"
	for _, alg := range []jose.Algorithm{jose.RS256, jose.PS256, jose.ES256} {
		t.Run(string(alg), func(t *testing.T) {
			private, public := nodeKey(t, alg)
			signed := signJSONWebToken(t, private, alg, "--iss", iss, "--aud", aud, "--sub", "carol", "--kid", "thumbprint")
			noKid := signJSONWebToken(t, private, alg, "--iss", iss, "--aud", aud, "--sub", "carol")
			expired := signJSONWebToken(t, private, alg, "--iss", iss, "--aud", aud, "--sub", "carol", "--expires-in", "-10m")
			otherAud := signJSONWebToken(t, private, alg, "--iss", iss, "--aud", "billing", "--sub", "carol", "--kid", "thumbprint")
			cases := []tokenCase{
				{name: "valid", token: signed, wantOK: true},
				{name: "valid-without-kid", token: noKid, wantOK: true},
				{name: "tampered", token: tamper(t, signed)},
				{name: "expired", token: expired},
				{name: "wrong-audience", token: otherAud},
			}

			for _, tc := range cases {
				t.Run("PAIR issuer=jsonwebtoken verifier=keyward-token-verify alg="+string(alg)+" token="+tc.name, func(t *testing.T) {
					stdout, stderr, code := run(t, ".", nil, tc.token+"\n", bin, "token", "verify",
						"--key", public, "--iss", iss, "--aud", aud, "--algs", string(alg), "--explain", "-")
					want := 1
					if tc.wantOK {
						want = 0
					}
					if code != want {
						t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, want, stdout, stderr)
					}
					if tc.wantOK && !strings.Contains(stdout, `"carol"`) {
						t.Fatalf("stdout lacks the claims: %s", stdout)
					}
					if !tc.wantOK {
						t.Logf("rejected as expected: %s", strings.TrimSpace(stderr))
					}
					t.Logf("PAIR issuer=jsonwebtoken verifier=keyward-token-verify alg=%s token=%s: ok (exit %d)", alg, tc.name, code)
				})
			}

			// keyward jwks turns the OpenSSL public key into the JWKS the
			// gate fetches, bound to alg (an RSA key defaults to RS256).
			set, stderr, code := run(t, ".", nil, "", bin, "jwks", "--alg", string(alg), public)
			if code != 0 {
				t.Fatalf("keyward jwks: exit %d: %s", code, stderr)
			}
			jwksSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(set))
			}))
			t.Cleanup(jwksSrv.Close)
			_, m := start(t, t.TempDir(), nil, gateReady, bin, "gate",
				"--listen", "127.0.0.1:0", "--jwks-url", jwksSrv.URL, "--issuer", iss, "--audience", aud,
				"--algs", string(alg), "--public", "/")
			gate := "http://" + m[1]
			client := &http.Client{Timeout: 10 * time.Second}
			if status, body := httpGet(t, client, gate+"/", ""); status != http.StatusOK || !strings.Contains(body, "This is a public route") {
				t.Fatalf("GET / on the gate: %d %s", status, body)
			}
			checkProtected(t, gate, "jsonwebtoken", "keyward-gate", alg, append(cases, tokenCase{name: "none"}))
		})
	}
}
