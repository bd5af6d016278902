package dpop_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/keyward/keyward/dpop"
)

// A client signs a proof for each request; the server checks it against
// the request and the token it came with, and accepts it only once.
func ExampleChecker_CheckBound() {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	client, _ := dpop.NewProofSigner(key, "", nil, nil)
	token := "a.bound.token" // its cnf.jkt is client.JKT()

	target, _ := url.Parse("https://api.example.com/orders?page=2")
	proof, _ := client.Sign(http.MethodGet, target, token, "")

	checker, _ := dpop.NewChecker(dpop.Config{}) // one per service: it holds the replay cache
	p, err := checker.CheckBound(proof, http.MethodGet, target, token, client.JKT())
	fmt.Println(p.URL, err)
	_, err = checker.CheckBound(proof, http.MethodGet, target, token, client.JKT())
	fmt.Println(errors.Is(err, dpop.ErrReplay))
	// Output:
	// https://api.example.com/orders <nil>
	// true
}

// A Transport adds a proof and the bound token to every request, and
// answers the servers' nonce requests.
func ExampleTransport() {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, _ := dpop.NewProofSigner(key, "", nil, nil)
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &dpop.Transport{
			Signer: signer,
			Token:  func(context.Context) (string, error) { return "a.bound.token", nil },
		},
	}
	_ = client // client.Get("https://api.example.com/orders")
}
