package interop_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/jwks"
	"github.com/keyward/keyward/verifier"
)

// TestMigrationHS256ToRS256 builds the verifier docs/migrating.md shows for
// the move from HS256 to RS256 — a legacy shared secret and keyward's JWKS
// behind verifier.Combine — and checks that it accepts a jsonwebtoken HS256
// token and a keyward RS256 token, and refuses an HS256 token whose "secret"
// is the RSA public key (CVE-2015-9235).
func TestMigrationHS256ToRS256(t *testing.T) {
	srv := newJWKSServer(t)
	secret := "legacy-secret-of-the-monolith-0123456789" // 40 bytes

	legacy, err := jose.NewJWK(jose.SharedSecret(secret), jose.HS256)
	if err != nil {
		t.Fatal(err)
	}
	remote, err := jwks.New(jwks.Config{URL: srv.url(jose.RS256), Client: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.New(verifier.Config{
		Keys:       verifier.Combine(verifier.StaticKeys(&jose.JWKS{Keys: []*jose.JWK{legacy}}), remote),
		Algorithms: []jose.Algorithm{jose.RS256, jose.ES256, jose.HS256},
		Issuers:    []string{testIssuer},
		Audiences:  []string{testAudience},
	})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("PAIR issuer=jsonwebtoken verifier=keyward-verifier alg=HS256", func(t *testing.T) {
		nodeProject(t)
		secretFile := filepath.Join(t.TempDir(), "secret")
		if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
			t.Fatal(err)
		}
		tok := signJSONWebToken(t, secretFile, jose.HS256, "--iss", testIssuer, "--aud", testAudience, "--sub", "legacy-user")
		claims, err := v.Verify(t.Context(), tok)
		if err != nil {
			t.Fatalf("legacy HS256 token rejected: %v", err)
		}
		if claims.Subject != "legacy-user" {
			t.Fatalf("sub %q", claims.Subject)
		}
		if _, err := v.Verify(t.Context(), tamper(t, tok)); err == nil {
			t.Fatal("tampered HS256 token accepted")
		}
		t.Log("PAIR issuer=jsonwebtoken verifier=keyward-verifier alg=HS256: ok")
	})

	t.Run("PAIR issuer=keyward-jose verifier=keyward-verifier alg=RS256", func(t *testing.T) {
		claims, err := v.Verify(t.Context(), accessToken(t, signer(t, jose.RS256), time.Now(), 5*time.Minute))
		if err != nil {
			t.Fatalf("keyward RS256 token rejected: %v", err)
		}
		if claims.Subject != testSubject {
			t.Fatalf("sub %q", claims.Subject)
		}
		t.Log("PAIR issuer=keyward-jose verifier=keyward-verifier alg=RS256: ok")
	})

	t.Run("HS256 signed with the RSA public key is refused", func(t *testing.T) {
		pubPEM, err := jose.MarshalPublicKeyPEM(privateKey(t, jose.RS256).Public())
		if err != nil {
			t.Fatal(err)
		}
		kid := publicJWK(t, jose.RS256).KeyID
		for _, header := range []string{
			`{"alg":"HS256","typ":"JWT","kid":"` + kid + `"}`,
			`{"alg":"HS256","typ":"JWT"}`,
		} {
			payload := `{"iss":"` + testIssuer + `","aud":"` + testAudience + `","sub":"mallory","exp":` +
				strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10) + `}`
			input := b64(header) + "." + b64(payload)
			mac := hmac.New(sha256.New, pubPEM)
			mac.Write([]byte(input))
			forged := input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
			_, err := v.Verify(t.Context(), forged)
			if err == nil {
				t.Fatalf("forged token accepted (header %s)", header)
			}
			if !errors.Is(err, jose.ErrAlgorithmNotAllowed) && !errors.Is(err, jose.ErrSignature) {
				t.Fatalf("header %s: %v, want an algorithm or signature error", header, err)
			}
			t.Logf("header %s: refused: %v", header, err)
		}
	})
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// TestMigrationVerifyOnlyImport follows docs/migrating.md's step for the
// old signing key: a token jsonwebtoken signed with the Node recipe's own
// key verifies at keyward gate once `keyward keys import --verify-only
// --until` published the key's public half, the issuer never signs with
// it, and once --until has passed the key has left the issuer's JWK Set
// and a gate that fetches it refuses the token. --until is a few seconds,
// and the waits are polls bounded by it.
func TestMigrationVerifyOnlyImport(t *testing.T) {
	nodeProject(t)
	if _, _, code := run(t, ".", nil, "", "openssl", "version"); code != 0 {
		t.Fatal("openssl is not usable")
	}
	bin := keywardBinary(t)
	private, public := nodeKey(t, jose.RS256)
	// The kid of the recipe's hand-written jwks.json.
	const kid = "legacy-2024"
	old := signJSONWebToken(t, private, jose.RS256, "--iss", serveIssuer, "--aud", serveAudience, "--sub", "legacy-user",
		"--kid", kid, "--expires-in", "1h")

	data := filepath.Join(t.TempDir(), "keyward-data")
	_, m := start(t, t.TempDir(), nil, serveReady, bin, "serve",
		"--listen", "127.0.0.1:0", "--issuer", serveIssuer, "--audience", serveAudience, "--data", data, "--log-level", "info")
	base := "http://" + m[1]
	pw, err := os.ReadFile(filepath.Join(data, "admin-password"))
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	jwksHas := func(kid string) bool {
		t.Helper()
		status, body := httpGet(t, client, base+"/jwks.json", "")
		if status != http.StatusOK {
			t.Fatalf("GET /jwks.json: %d %s", status, body)
		}
		set, err := jose.ParseJWKS([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return slices.Contains(set.KeyIDs(), kid)
	}
	// waitFor polls the issuer's JWK Set until it holds kid (or not), for
	// at most d: the issuer reloads its keys every 5 seconds.
	waitFor := func(kid string, published bool, d time.Duration) {
		t.Helper()
		deadline := time.Now().Add(d)
		for jwksHas(kid) != published {
			if time.Now().After(deadline) {
				t.Fatalf("key %s published %t after %s, want %t", kid, !published, d, published)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	gate := func() string {
		t.Helper()
		_, m := start(t, t.TempDir(), nil, gateReady, bin, "gate", "--listen", "127.0.0.1:0",
			"--jwks-url", base+"/jwks.json", "--issuer", serveIssuer, "--audience", serveAudience)
		return "http://" + m[1]
	}

	// The import, as docs/migrating.md shows it (the public half is
	// enough), under the kid the old tokens carry.
	const until = 15 * time.Second
	imported := time.Now()
	stdout, stderr, code := run(t, ".", nil, "", bin, "keys", "import", "--verify-only", "--kid", kid, "--until", until.String(), "--data", data, public)
	if code != 0 {
		t.Fatalf("keys import --verify-only: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "key "+kid+" imported verify-only") {
		t.Fatalf("keys import printed %q, want the token's kid %s", stdout, kid)
	}
	for _, want := range []string{"msg=key_imported", "kid=" + kid, "verify_only=true", "until="} {
		if !strings.Contains(stderr, want) {
			t.Errorf("no audit line with %s: %s", want, stderr)
		}
	}
	waitFor(kid, true, 10*time.Second)

	g := gate()
	if status, body := httpGet(t, client, g+"/protected", old); status != http.StatusOK || !strings.Contains(body, "legacy-user") {
		t.Fatalf("the old token at the gate after the import: %d %s", status, body)
	}
	// The issuer still signs with its own key, which the gate accepts too.
	tok := login(t, base, "admin", strings.TrimSpace(string(pw)))
	if k := headerKID(t, tok); k == kid {
		t.Fatal("the issuer signs with the verify-only key")
	}
	if status, body := httpGet(t, client, g+"/protected", tok); status != http.StatusOK {
		t.Fatalf("keyward's token at the gate: %d %s", status, body)
	}
	if time.Since(imported) >= until {
		t.Fatalf("the checks took %s, longer than --until %s: raise it", time.Since(imported), until)
	}

	// After --until the key leaves the set; a gate that fetches it refuses
	// the old token and still accepts keyward's.
	waitFor(kid, false, time.Until(imported.Add(until))+10*time.Second)
	g = gate()
	if status, body := httpGet(t, client, g+"/protected", old); status != http.StatusUnauthorized {
		t.Fatalf("the old token at the gate after --until: %d %s", status, body)
	}
	if status, body := httpGet(t, client, g+"/protected", tok); status != http.StatusOK {
		t.Fatalf("keyward's token at the gate after --until: %d %s", status, body)
	}
}

// headerKID returns the kid of a token's header, read without verifying.
func headerKID(t *testing.T, token string) string {
	t.Helper()
	jws, err := jose.Parse(token)
	if err != nil {
		t.Fatal(err)
	}
	return jws.Header.KeyID
}
