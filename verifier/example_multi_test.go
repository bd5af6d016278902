package verifier_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/verifier"
)

// Two issuers during a migration — keyward, and the old Node issuer whose
// public key is in a PEM file — and per-route requirements on a
// http.ServeMux: reading orders takes a token of either issuer with
// read:orders, writing them a keyward token with write:orders.
func ExampleNewMulti() {
	// In a real service keyward's keys come from its JWKS: a jwks.Set
	// with Issuer set to keyward's URL, its Run started in a goroutine.
	keywardKeys, _ := verifier.LoadKeys("testdata/rsa-b.pem")
	nodeKeys, _ := verifier.LoadKeys("testdata/rsa-a.pub.pem")
	v, err := verifier.NewMulti(verifier.MultiConfig{Issuers: []verifier.Issuer{
		{Name: "keyward", Config: verifier.Config{
			Keys: verifier.StaticKeys(keywardKeys), Issuers: []string{"https://auth.example"},
			Audiences: []string{"orders"}, Algorithms: []jose.Algorithm{jose.RS256, jose.ES256}, StrictType: true,
		}},
		{Name: "node", Config: verifier.Config{
			Keys: verifier.StaticKeys(nodeKeys), Issuers: []string{"http://localhost:4000"},
			Audiences: []string{"orders"}, Algorithms: []jose.Algorithm{jose.RS256},
		}},
	}})
	if err != nil {
		panic(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	mux := http.NewServeMux()
	mux.Handle("GET /orders", v.Require(verifier.AnyScope("read:orders"))(ok))
	mux.Handle("POST /orders", v.Require(verifier.AllScopes("write:orders"), verifier.FromIssuer("keyward"))(ok))
	h := verifier.Middleware(v, verifier.MiddlewareConfig{Realm: "orders"})(mux)

	// A token of the Node issuer, signed with its key.
	token, _ := exampleSigner().SignJWT("JWT", &jose.Claims{
		Issuer: "http://localhost:4000", Subject: "alice", Audience: jose.Audience{"orders"},
		Expiry: jose.NewNumericDate(time.Now().Add(time.Hour)),
		Extra:  map[string]any{"scope": "read:orders write:orders"},
	})
	for _, method := range []string{"GET", "POST"} {
		r := httptest.NewRequest(method, "/orders", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(strings.TrimSpace(fmt.Sprint(method, " ", w.Code, " ", w.Header().Get("WWW-Authenticate"))))
	}
	// Output:
	// GET 200
	// POST 401 Bearer error="invalid_token", error_description="issuer not accepted"
}
