package interop_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/jose"
)

// readyLine is what node/app.js prints once it accepts requests.
var readyLine = regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)

// startExpress starts the classic Express recipe (node/app.js) against the
// JWKS at jwksURL and returns its base URL.
func startExpress(t *testing.T, jwksURL, issuer, audience string) string {
	t.Helper()
	dir := nodeProject(t)
	_, m := start(t, dir, []string{
		"PORT=0",
		"JWKS_URI=" + jwksURL,
		"ISSUER=" + issuer,
		"AUDIENCE=" + audience,
		"ALGORITHMS=RS256,ES256",
	}, readyLine, "node", "app.js")
	return m[1]
}

// tokenCase is one token presented to a verifier and the verdict expected.
type tokenCase struct {
	name   string
	token  string
	wantOK bool
}

// checkProtected presents each token to the recipe's API at base (the
// Express app or keyward gate's demo API) and checks the status of
// /protected: 200 for a token it must accept, 401 otherwise.
func checkProtected(t *testing.T, base, issuer, verifier string, alg jose.Algorithm, cases []tokenCase) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	for _, tc := range cases {
		t.Run("PAIR issuer="+issuer+" verifier="+verifier+" alg="+string(alg)+" token="+tc.name, func(t *testing.T) {
			status, body := httpGet(t, client, base+"/protected", tc.token)
			want := http.StatusUnauthorized
			if tc.wantOK {
				want = http.StatusOK
			}
			if status != want {
				t.Fatalf("GET /protected: %d %s, want %d", status, body, want)
			}
			if tc.wantOK && !strings.Contains(body, "You have accessed a protected route!") {
				t.Fatalf("GET /protected: body %s", body)
			}
			t.Logf("PAIR issuer=%s verifier=%s alg=%s token=%s: ok (%d)", issuer, verifier, alg, tc.name, status)
		})
	}
}

// joseResult is one line of node/verify-jose.js output.
type joseResult struct {
	OK    bool   `json:"ok"`
	Alg   string `json:"alg"`
	Kid   string `json:"kid"`
	Sub   string `json:"sub"`
	Code  string `json:"code"`
	Error string `json:"error"`
}

// checkJose verifies the tokens with panva/jose (node/verify-jose.js)
// against the JWKS at jwksURL, allowing only alg.
func checkJose(t *testing.T, jwksURL, issuer, audience, issuerName string, alg jose.Algorithm, cases []tokenCase) {
	t.Helper()
	dir := nodeProject(t)
	args := []string{"verify-jose.js"}
	for _, tc := range cases {
		args = append(args, tc.token)
	}
	stdout, stderr, code := run(t, dir, []string{
		"JWKS_URI=" + jwksURL, "ISSUER=" + issuer, "AUDIENCE=" + audience, "ALGORITHMS=" + string(alg),
	}, "", "node", args...)
	if code == 2 {
		t.Fatalf("verify-jose.js: exit 2: %s", stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != len(cases) {
		t.Fatalf("verify-jose.js printed %d lines for %d tokens:\n%s\n%s", len(lines), len(cases), stdout, stderr)
	}
	for i, tc := range cases {
		t.Run("PAIR issuer="+issuerName+" verifier=panva-jose alg="+string(alg)+" token="+tc.name, func(t *testing.T) {
			var r joseResult
			if err := json.Unmarshal([]byte(lines[i]), &r); err != nil {
				t.Fatalf("line %q: %v", lines[i], err)
			}
			switch {
			case tc.wantOK && !r.OK:
				t.Fatalf("rejected: %s %s", r.Code, r.Error)
			case !tc.wantOK && r.OK:
				t.Fatalf("accepted: %s", lines[i])
			case tc.wantOK && r.Alg != string(alg):
				t.Fatalf("verified with alg %s, want %s", r.Alg, alg)
			case !r.OK:
				t.Logf("rejected as expected: %s %s", r.Code, r.Error)
			}
			t.Logf("PAIR issuer=%s verifier=panva-jose alg=%s token=%s: ok", issuerName, alg, tc.name)
		})
	}
}

// signJSONWebToken signs a token with jsonwebtoken (node/sign-jsonwebtoken.js)
// and the PEM key at keyPath.
func signJSONWebToken(t *testing.T, keyPath string, alg jose.Algorithm, args ...string) string {
	t.Helper()
	dir := nodeProject(t)
	stdout, stderr, code := run(t, dir, nil, "", "node", append([]string{"sign-jsonwebtoken.js", keyPath, string(alg)}, args...)...)
	if code != 0 {
		t.Fatalf("sign-jsonwebtoken.js %s: exit %d: %s", alg, code, stderr)
	}
	return strings.TrimSpace(stdout)
}

// keywardCases returns the tokens every verifier is shown for a signer: a
// valid access token, the same tampered, an expired one, and one for
// another audience.
func keywardCases(t *testing.T, s *jose.Signer) []tokenCase {
	t.Helper()
	now := time.Now()
	valid := accessToken(t, s, now, 15*time.Minute)
	otherAud, err := s.SignJWT("at+jwt", &jose.Claims{
		Issuer: testIssuer, Subject: testSubject, Audience: jose.Audience{"api://someone-else"},
		Expiry: jose.NewNumericDate(now.Add(time.Minute)), IssuedAt: jose.NewNumericDate(now),
	})
	if err != nil {
		t.Fatal(err)
	}
	return []tokenCase{
		{name: "valid", token: valid, wantOK: true},
		{name: "tampered", token: tamper(t, valid)},
		{name: "expired", token: accessToken(t, s, now, -10*time.Minute)},
		{name: "wrong-audience", token: otherAud},
	}
}

// TestExpressVerifiesKeywardTokens runs the classic Express recipe
// (express-jwt + jwks-rsa) against a JWKS keyward published, with tokens
// keyward's signer made.
func TestExpressVerifiesKeywardTokens(t *testing.T) {
	srv := newJWKSServer(t)
	base := startExpress(t, srv.URL+"/recipe/jwks.json", testIssuer, testAudience)
	client := &http.Client{Timeout: 10 * time.Second}

	if status, body := httpGet(t, client, base+"/", ""); status != http.StatusOK || !strings.Contains(body, "This is a public route") {
		t.Fatalf("GET /: %d %s", status, body)
	}
	if status, _ := httpGet(t, client, base+"/protected", ""); status != http.StatusUnauthorized {
		t.Fatalf("GET /protected without a token: %d, want 401", status)
	}
	for _, alg := range []jose.Algorithm{jose.RS256, jose.ES256} {
		checkProtected(t, base, "keyward-jose", "express-jwt", alg, keywardCases(t, signer(t, alg)))
	}
	// The allowlist holds: a valid EdDSA token signed by a key the app
	// does not know is refused, and so is an RS256-key token relabelled
	// PS256, which the app does not allow.
	for _, alg := range []jose.Algorithm{jose.EdDSA, jose.PS256} {
		tok := accessToken(t, signer(t, alg), time.Now(), 15*time.Minute)
		checkProtected(t, base, "keyward-jose", "express-jwt", alg, []tokenCase{{name: "not-allowed", token: tok}})
	}
}

// TestJoseVerifiesKeywardTokens runs panva/jose's createRemoteJWKSet and
// jwtVerify over tokens of every asymmetric algorithm keyward signs.
func TestJoseVerifiesKeywardTokens(t *testing.T) {
	srv := newJWKSServer(t)
	for _, alg := range asymmetricAlgs {
		checkJose(t, srv.url(alg), testIssuer, testAudience, "keyward-jose", alg, keywardCases(t, signer(t, alg)))
	}
}

// TestKeywardVerifiesJSONWebTokenTokens signs tokens with jsonwebtoken and
// the OpenSSL-made test keys, and verifies them with keyward against the
// JWKS of the same keys. jsonwebtoken cannot sign EdDSA.
func TestKeywardVerifiesJSONWebTokenTokens(t *testing.T) {
	nodeProject(t)
	for _, alg := range asymmetricAlgs {
		if alg == jose.EdDSA {
			continue
		}
		t.Run("PAIR issuer=jsonwebtoken verifier=keyward-jose alg="+string(alg), func(t *testing.T) {
			pub := publicJWK(t, alg)
			keys := &jose.JWKS{Keys: []*jose.JWK{pub}}
			algs, err := jose.NewAlgorithmSet(alg)
			if err != nil {
				t.Fatal(err)
			}
			policy := &jose.Policy{Issuers: []string{testIssuer}, Audiences: []string{testAudience}}
			common := []string{"--iss", testIssuer, "--aud", testAudience, "--sub", testSubject}

			// With the thumbprint as kid, as `keyward jwks` names the key.
			tok := signJSONWebToken(t, keyFile(t, alg), alg, append(common, "--kid", "thumbprint")...)
			got, err := jose.VerifyJWT(tok, keys, algs, policy)
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if got.Header.KeyID != pub.KeyID {
				t.Fatalf("jsonwebtoken's thumbprint kid %q, keyward's %q", got.Header.KeyID, pub.KeyID)
			}
			// Without a kid: the one key of the set that accepts alg.
			if _, err := jose.VerifyJWT(signJSONWebToken(t, keyFile(t, alg), alg, common...), keys, algs, policy); err != nil {
				t.Fatalf("rejected without kid: %v", err)
			}
			if _, err := jose.VerifyJWT(tamper(t, tok), keys, algs, policy); err == nil {
				t.Fatal("accepted a tampered token")
			}
			expired := signJSONWebToken(t, keyFile(t, alg), alg, append(common, "--expires-in", "-10m")...)
			if _, err := jose.VerifyJWT(expired, keys, algs, policy); err == nil {
				t.Fatal("accepted an expired token")
			}
			t.Logf("PAIR issuer=jsonwebtoken verifier=keyward-jose alg=%s: ok", alg)
		})
	}
}
