package verifier_test

import (
	"context"
	"crypto"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/jwks"
	"github.com/keyward/keyward/verifier"
)

// Protecting a Go service: keys from the issuer's JWKS, a policy, and the
// middleware in front of the routes.
func Example() {
	keys, err := jwks.New(jwks.Config{URL: "https://issuer.example/.well-known/jwks.json"})
	if err != nil {
		panic(err)
	}
	go keys.Run(context.Background()) // refresh in the background

	v, err := verifier.New(verifier.Config{
		Keys:       keys,
		Issuers:    []string{"https://issuer.example"},
		Audiences:  []string{"orders-api"},
		Algorithms: []jose.Algorithm{jose.RS256},
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders", func(w http.ResponseWriter, r *http.Request) {
		claims, _ := verifier.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "orders of %s\n", claims.Subject)
	})
	mux.Handle("POST /orders", verifier.RequireScope("orders:write")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	})))
	protect := verifier.Middleware(v, verifier.MiddlewareConfig{Realm: "orders", PublicPaths: []string{"/"}})
	srv := &http.Server{Addr: "127.0.0.1:8080", Handler: protect(mux), ReadHeaderTimeout: 5 * time.Second}
	_ = srv // srv.ListenAndServe()
}

// exampleSigner signs with the test key the example's key file belongs to,
// standing in for the issuer.
func exampleSigner() *jose.Signer {
	data, err := os.ReadFile("testdata/rsa-a.pem")
	if err != nil {
		panic(err)
	}
	key, err := jose.ParseKeyPEM(data)
	if err != nil {
		panic(err)
	}
	kid, _ := jose.Thumbprint(key.(crypto.Signer).Public())
	s, err := jose.NewSigner(key, jose.RS256, kid)
	if err != nil {
		panic(err)
	}
	return s
}

func ExampleVerifier_Verify() {
	keys, err := verifier.LoadKeys("testdata/rsa-a.pub.pem")
	if err != nil {
		panic(err)
	}
	v, err := verifier.New(verifier.Config{
		Keys:       verifier.StaticKeys(keys),
		Issuers:    []string{"https://issuer.example"},
		Audiences:  []string{"api"},
		Algorithms: []jose.Algorithm{jose.RS256},
	})
	if err != nil {
		panic(err)
	}
	token, _ := exampleSigner().SignJWT("at+jwt", &jose.Claims{
		Issuer:   "https://issuer.example",
		Subject:  "alice",
		Audience: jose.Audience{"api"},
		Expiry:   jose.NewNumericDate(time.Now().Add(time.Hour)),
	})
	claims, err := v.Verify(context.Background(), token)
	fmt.Println(claims.Subject, err)

	other, _ := exampleSigner().SignJWT("at+jwt", &jose.Claims{
		Issuer:   "https://issuer.example",
		Subject:  "alice",
		Audience: jose.Audience{"billing"},
		Expiry:   jose.NewNumericDate(time.Now().Add(time.Hour)),
	})
	_, err = v.Verify(context.Background(), other)
	fmt.Println(verifier.Description(err))
	// Output:
	// alice <nil>
	// audience not accepted
}

func ExampleMiddleware() {
	keys, _ := verifier.LoadKeys("testdata/rsa-a.pub.pem")
	v, _ := verifier.New(verifier.Config{
		Keys:       verifier.StaticKeys(keys),
		Issuers:    []string{"https://issuer.example"},
		Audiences:  []string{"api"},
		Algorithms: []jose.Algorithm{jose.RS256},
	})
	h := verifier.Middleware(v, verifier.MiddlewareConfig{Realm: "api"})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := verifier.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "hello %s", c.Subject)
	}))

	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/protected", nil))
	fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))

	token, _ := exampleSigner().SignJWT("at+jwt", &jose.Claims{
		Issuer: "https://issuer.example", Subject: "alice", Audience: jose.Audience{"api"},
		Expiry: jose.NewNumericDate(time.Now().Add(-time.Hour)),
	})
	r := httptest.NewRequest("GET", "/protected", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
	// Output:
	// 401 Bearer realm="api"
	// 401 Bearer realm="api", error="invalid_token", error_description="token expired"
}
