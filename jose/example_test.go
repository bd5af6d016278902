package jose_test

import (
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/keyward/keyward/jose"
)

// Sign a token with a private key from a PEM file and verify it with the
// public key, under an algorithm allowlist and a policy.
func Example() {
	pemBytes, err := os.ReadFile(filepath.Join("testdata", "keys", "rsa2048.pem"))
	if err != nil {
		log.Fatal(err)
	}
	priv, err := jose.ParseKeyPEM(pemBytes)
	if err != nil {
		log.Fatal(err)
	}

	// The issuer: the key ID is the public key's RFC 7638 thumbprint.
	pub, err := jose.PublicKey(priv)
	if err != nil {
		log.Fatal(err)
	}
	jwk, err := jose.NewJWK(pub, jose.RS256)
	if err != nil {
		log.Fatal(err)
	}
	signer, err := jose.NewSigner(priv, jose.RS256, jwk.KeyID)
	if err != nil {
		log.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	token, err := signer.SignJWT("", &jose.Claims{
		Issuer:   "https://issuer.example",
		Subject:  "123",
		Audience: jose.Audience{"api"},
		Expiry:   jose.NewNumericDate(now.Add(time.Hour)),
		Extra:    map[string]any{"email": "user@example.com", "role": "admin"},
	})
	if err != nil {
		log.Fatal(err)
	}

	// The verifier: keys from a key set, never from the token.
	algs, err := jose.ParseAlgorithmSet("RS256")
	if err != nil {
		log.Fatal(err)
	}
	policy := &jose.Policy{
		Issuers:   []string{"https://issuer.example"},
		Audiences: []string{"api"},
		Leeway:    30 * time.Second,
		Now:       func() time.Time { return now },
	}
	verified, err := jose.VerifyJWT(token, &jose.JWKS{Keys: []*jose.JWK{jwk}}, algs, policy)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(verified.Claims.Subject, verified.Claims.String("email"), verified.Claims.String("role"))

	// Two hours later the same token has expired.
	policy.Now = func() time.Time { return now.Add(2 * time.Hour) }
	_, err = jose.VerifyJWT(token, &jose.JWKS{Keys: []*jose.JWK{jwk}}, algs, policy)
	fmt.Println(err)
	// Output:
	// 123 user@example.com admin
	// jose: token expired: expired 1h0m0s ago
}

// Publish the public half of a key as a JWK Set, as an issuer serves it at
// /.well-known/jwks.json, and read it back as a verifier does.
func ExampleJWKS() {
	pemBytes, err := os.ReadFile(filepath.Join("testdata", "keys", "ed25519.pem"))
	if err != nil {
		log.Fatal(err)
	}
	priv, err := jose.ParseKeyPEM(pemBytes)
	if err != nil {
		log.Fatal(err)
	}
	k, err := jose.NewJWK(priv, jose.EdDSA)
	if err != nil {
		log.Fatal(err)
	}
	pub, err := k.Public() // never publish the private key
	if err != nil {
		log.Fatal(err)
	}
	doc, err := json.Marshal(&jose.JWKS{Keys: []*jose.JWK{pub}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(doc))

	set, err := jose.ParseJWKS(doc)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(set.KeyIDs(), len(set.Skipped))
	// Output:
	// {"keys":[{"kty":"OKP","use":"sig","alg":"EdDSA","kid":"_keHT2SKemSDljkyhLR1pFBrdtBsfvjYVvByIcIuVSg","crv":"Ed25519","x":"J65TvU7uNwdtmqGgjFbYmQCZAgxq_actsQ0bFu1uD3k"}]}
	// [_keHT2SKemSDljkyhLR1pFBrdtBsfvjYVvByIcIuVSg] 0
}

// The RFC 7638 thumbprint of a key, the default key ID.
func ExampleJWK_Thumbprint() {
	k, err := jose.ParseJWK([]byte(`{"kty":"RSA","e":"AQAB","kid":"2011-04-29","alg":"RS256",
		"n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}`))
	if err != nil {
		log.Fatal(err)
	}
	tp, err := k.Thumbprint()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tp)
	// Output: NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs
}

// Tokens whose header names "none", or HS256 over a public key, never
// verify: the allowlist and the key's type both forbid it.
func ExampleParse() {
	token := "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."
	_, err := jose.Parse(token)
	fmt.Println(err)
	// Output: jose: algorithm not allowed: "none"
}
