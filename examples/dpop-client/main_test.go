package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/dpop"
	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/verifier"
)

// TestDPoPClient runs the example against an in-process token endpoint
// that binds its tokens to the proof's key and requires nonces, and an API
// behind the verifier's middleware with DPoP required: the token is bound,
// the call passes, and the same token sent by another key's proofs or as
// Bearer is refused.
func TestDPoPClient(t *testing.T) {
	t.Parallel()
	issuerKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jose.NewJWK(issuerKey.Public(), "")
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := jose.NewSigner(issuerKey, "", pub.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	nonces, err := dpop.NewNonces([]byte("an example secret, 32 bytes long"), time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	asChecker, err := dpop.NewChecker(dpop.Config{Nonces: nonces})
	if err != nil {
		t.Fatal(err)
	}
	var as *httptest.Server
	as = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("DPoP-Nonce", nonces.Current())
		id, secret, _ := r.BasicAuth()
		if id != "reports" || secret != "s3cret" || r.PostFormValue("grant_type") != "client_credentials" {
			w.WriteHeader(401)
			w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		proof, err := dpop.FromRequest(r)
		var p *dpop.Proof
		if err == nil {
			u, _ := url.Parse(as.URL + "/token")
			p, err = asChecker.Check(proof, r.Method, u, "")
		}
		if err != nil {
			code := "invalid_dpop_proof"
			if errors.Is(err, dpop.ErrUseNonce) {
				code = "use_dpop_nonce"
			}
			w.WriteHeader(400)
			json.NewEncoder(w).Encode(map[string]string{"error": code})
			return
		}
		c := &jose.Claims{Issuer: as.URL, Subject: "reports", Audience: jose.Audience{"api"},
			Expiry: jose.NewNumericDate(time.Now().Add(time.Hour))}
		dpop.Bind(c, p.JKT)
		tok, _ := issuer.SignJWT("at+jwt", c)
		json.NewEncoder(w).Encode(map[string]string{"access_token": tok, "token_type": "DPoP"})
	}))
	t.Cleanup(as.Close)

	v, err := verifier.New(verifier.Config{Keys: verifier.StaticKeys(&jose.JWKS{Keys: []*jose.JWK{pub}}),
		Issuers: []string{as.URL}, Audiences: []string{"api"}, Algorithms: []jose.Algorithm{jose.ES256}})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(verifier.Middleware(v, verifier.MiddlewareConfig{DPoP: verifier.DPoPConfig{Mode: verifier.DPoPRequired}})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, _ := verifier.ClaimsFrom(r.Context())
			w.Write([]byte("hello " + c.Subject))
		})))
	t.Cleanup(api.Close)

	newSigner := func() *dpop.ProofSigner {
		key, err := proofKey("")
		if err != nil {
			t.Fatal(err)
		}
		s, err := dpop.NewProofSigner(key, "", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	signer := newSigner()
	base := &http.Client{Timeout: 10 * time.Second}
	cfg := Config{TokenURL: as.URL + "/token", ClientID: "reports", ClientSecret: "s3cret"}
	token, err := FetchToken(t.Context(), base, signer, cfg)
	if err != nil {
		t.Fatal(err)
	}
	status, body, err := Call(t.Context(), NewClient(base, signer, token), api.URL+"/reports")
	if err != nil || status != 200 || body != "hello reports" {
		t.Fatalf("call: %d %q %v", status, body, err)
	}
	// The token without the key is worth nothing.
	status, _, err = Call(t.Context(), NewClient(base, newSigner(), token), api.URL+"/reports")
	if err != nil || status != 401 {
		t.Fatalf("call with another key: %d %v", status, err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), "GET", api.URL+"/reports", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := base.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "DPoP ") {
		t.Fatalf("the token as Bearer: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if _, err := FetchToken(t.Context(), base, signer, Config{TokenURL: cfg.TokenURL, ClientID: "reports", ClientSecret: "wrong"}); err == nil {
		t.Fatal("a wrong secret got a token")
	}
}
