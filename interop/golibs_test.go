package interop_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/keyward/keyward/jose"
)

// goVerifier verifies a token with a Go library against the JWKS at
// jwksURL, accepting only alg, testIssuer and testAudience at now.
type goVerifier struct {
	name   string
	verify func(ctx context.Context, client *http.Client, jwksURL string, alg jose.Algorithm, now time.Time, token string) error
}

var goVerifiers = []goVerifier{
	{name: "jwx-v3", verify: verifyJWX},
	{name: "go-oidc-v3", verify: verifyOIDC},
}

// verifyJWX is how a service using lestrrat-go/jwx v3 checks a token: the
// key set fetched from the issuer, a kid required, iss and aud checked.
func verifyJWX(ctx context.Context, client *http.Client, jwksURL string, alg jose.Algorithm, now time.Time, token string) error {
	set, err := jwk.Fetch(ctx, jwksURL, jwk.WithHTTPClient(client))
	if err != nil {
		return err
	}
	_, err = jwt.Parse([]byte(token),
		jwt.WithKeySet(set, jws.WithRequireKid(true)),
		jwt.WithIssuer(testIssuer),
		jwt.WithAudience(testAudience),
		jwt.WithClock(jwt.ClockFunc(func() time.Time { return now })),
		jwt.WithValidate(true),
	)
	return err
}

// verifyOIDC is how a service using coreos/go-oidc v3 checks a token: a
// remote key set, the issuer, the audience as client ID and the allowed
// algorithm.
func verifyOIDC(ctx context.Context, client *http.Client, jwksURL string, alg jose.Algorithm, now time.Time, token string) error {
	ctx = oidc.ClientContext(ctx, client)
	keys := oidc.NewRemoteKeySet(ctx, jwksURL)
	v := oidc.NewVerifier(testIssuer, keys, &oidc.Config{
		ClientID:             testAudience,
		SupportedSigningAlgs: []string{string(alg)},
		Now:                  func() time.Time { return now },
	})
	_, err := v.Verify(ctx, token)
	return err
}

// TestGoLibrariesVerifyKeywardTokens checks that tokens signed by keyward's
// jose.Signer, as the issuer signs them, are accepted by jwx and go-oidc
// with a JWKS keyward published, for every asymmetric algorithm, and that
// tampered, expired and foreign-audience tokens are refused.
func TestGoLibrariesVerifyKeywardTokens(t *testing.T) {
	t.Parallel()
	srv := newJWKSServer(t)
	client := &http.Client{Timeout: 5 * time.Second}
	now := time.Now()

	for _, v := range goVerifiers {
		for _, alg := range asymmetricAlgs {
			s := signer(t, alg)
			valid := accessToken(t, s, now, 15*time.Minute)
			otherAud, err := s.SignJWT("at+jwt", &jose.Claims{
				Issuer: testIssuer, Subject: testSubject, Audience: jose.Audience{"api://someone-else"},
				Expiry: jose.NewNumericDate(now.Add(time.Minute)),
			})
			if err != nil {
				t.Fatal(err)
			}
			cases := []struct {
				name   string
				token  string
				wantOK bool
			}{
				{name: "valid", token: valid, wantOK: true},
				{name: "tampered", token: tamper(t, valid)},
				{name: "expired", token: accessToken(t, s, now, -10*time.Minute)},
				{name: "wrong-audience", token: otherAud},
			}
			for _, tc := range cases {
				t.Run("PAIR issuer=keyward-jose verifier="+v.name+" alg="+string(alg)+" token="+tc.name, func(t *testing.T) {
					t.Parallel()
					err := v.verify(t.Context(), client, srv.url(alg), alg, now, tc.token)
					switch {
					case tc.wantOK && err != nil:
						t.Fatalf("rejected: %v", err)
					case !tc.wantOK && err == nil:
						t.Fatal("accepted")
					case err != nil:
						t.Logf("rejected as expected: %v", err)
					}
					t.Logf("PAIR issuer=keyward-jose verifier=%s alg=%s token=%s: ok", v.name, alg, tc.name)
				})
			}
		}
	}
}

// TestKeywardVerifiesJWXTokens is the other direction: tokens signed by jwx
// with the same keys are accepted by keyward's verification against the
// same JWKS, and refused once tampered.
func TestKeywardVerifiesJWXTokens(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for _, alg := range asymmetricAlgs {
		t.Run("PAIR issuer=jwx-v3 verifier=keyward-jose alg="+string(alg), func(t *testing.T) {
			t.Parallel()
			pub := publicJWK(t, alg)
			key, err := jwk.Import(privateKey(t, alg))
			if err != nil {
				t.Fatal(err)
			}
			if err := key.Set(jwk.KeyIDKey, pub.KeyID); err != nil {
				t.Fatal(err)
			}
			jalg, ok := jwa.LookupSignatureAlgorithm(string(alg))
			if !ok {
				t.Fatalf("jwx does not know %s", alg)
			}
			tok, err := jwt.NewBuilder().
				Issuer(testIssuer).Subject(testSubject).Audience([]string{testAudience}).
				IssuedAt(now).Expiration(now.Add(5 * time.Minute)).
				Build()
			if err != nil {
				t.Fatal(err)
			}
			signed, err := jwt.Sign(tok, jwt.WithKey(jalg, key))
			if err != nil {
				t.Fatal(err)
			}
			algs, err := jose.NewAlgorithmSet(alg)
			if err != nil {
				t.Fatal(err)
			}
			keys := &jose.JWKS{Keys: []*jose.JWK{pub}}
			policy := &jose.Policy{Issuers: []string{testIssuer}, Audiences: []string{testAudience}, Now: func() time.Time { return now }}
			got, err := jose.VerifyJWT(string(signed), keys, algs, policy)
			if err != nil {
				t.Fatalf("keyward rejected a jwx token: %v", err)
			}
			if got.Claims.Subject != testSubject || got.Key.KeyID != pub.KeyID {
				t.Fatalf("sub %q kid %q, want %q %q", got.Claims.Subject, got.Key.KeyID, testSubject, pub.KeyID)
			}
			if _, err := jose.VerifyJWT(tamper(t, string(signed)), keys, algs, policy); err == nil {
				t.Fatal("keyward accepted a tampered jwx token")
			}
			t.Logf("PAIR issuer=jwx-v3 verifier=keyward-jose alg=%s: ok", alg)
		})
	}
}
