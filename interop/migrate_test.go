package interop_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strconv"
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
