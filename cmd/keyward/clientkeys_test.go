package main

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/issuer"
	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/jwks"
	"github.com/keyward/keyward/storage/memory"
)

// TestClientKeySetsCache authenticates a private_key_jwt client registered
// with a JWKS URL: two assertions fetch its key set once; an assertion
// signed by a key the client added since fetches it again, even a second
// after the last fetch.
func TestClientKeySetsCache(t *testing.T) {
	t.Parallel()
	newKey := func() (*jose.Signer, *jose.JWK) {
		t.Helper()
		priv, err := jose.GenerateKey(jose.ES256, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		jwk, err := jose.NewJWK(priv, jose.ES256)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := jwk.Public()
		if err != nil {
			t.Fatal(err)
		}
		s, err := jose.NewSigner(priv, jose.ES256, jwk.KeyID)
		if err != nil {
			t.Fatal(err)
		}
		return s, pub
	}
	first, firstPub := newKey()
	second, secondPub := newKey()
	third, thirdPub := newKey()
	var (
		fetches   atomic.Int32
		published atomic.Pointer[[]byte]
	)
	publish := func(keys ...*jose.JWK) {
		b, err := (&jose.JWKS{Keys: keys}).MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		published.Store(&b)
	}
	publish(firstPub)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "max-age=600")
		_, _ = w.Write(*published.Load())
	}))
	t.Cleanup(srv.Close)

	var nanos atomic.Int64
	nanos.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, nanos.Load()).UTC() }
	// The test server is plain http on loopback.
	cache, err := jwks.NewCache(jwks.CacheConfig{Client: srv.Client(), Size: 2, Now: clock, AllowPrivate: true, AllowLoopbackHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	store := memory.New(memory.Config{Now: clock})
	if err := store.CreateClient(t.Context(), keyward.Client{ID: "svc", JWKSURL: srv.URL + "/jwks.json",
		GrantTypes: []string{issuer.GrantClientCredentials}}); err != nil {
		t.Fatal(err)
	}
	static, err := readSigningKey(testKey("p256.pem"))
	if err != nil {
		t.Fatal(err)
	}
	km, err := issuer.NewKeyManager(issuer.KeyManagerConfig{Static: static})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := issuer.New(issuer.Config{Store: store, Keys: km, Issuer: "https://issuer.test", Now: clock,
		ClientKeys: cache.Keys, Password: issuer.PasswordParams{Memory: 64, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	assertion := func(s *jose.Signer, jti string) string {
		t.Helper()
		tok, err := s.SignJWT("JWT", &jose.Claims{Issuer: "svc", Subject: "svc", Audience: jose.Audience{"https://issuer.test/token"},
			Expiry: jose.NewNumericDate(clock().Add(time.Minute)), ID: jti})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	authenticate := func(s *jose.Signer, jti string) error {
		t.Helper()
		_, err := iss.AuthenticateClientAssertion(t.Context(), "", assertion(s, jti), []string{"https://issuer.test/token"})
		return err
	}
	steps := []struct {
		name    string
		signer  *jose.Signer
		advance time.Duration
		ok      bool
		fetches int32
	}{
		{name: "first assertion fetches", signer: first, ok: true, fetches: 1},
		{name: "second assertion uses the cache", signer: first, ok: true, fetches: 1},
		{name: "a key not yet published fetches once", signer: second, advance: 15 * time.Second, ok: false, fetches: 2},
		{name: "a kid just found missing is not fetched again", signer: second, ok: false, fetches: 2},
		{name: "after the negative cache the added key is found", signer: second, advance: 15 * time.Second, ok: true, fetches: 3},
		{name: "the old key still works from the cache", signer: first, ok: true, fetches: 3},
		{name: "a key added a second after a fetch is found at once", signer: third, advance: time.Second, ok: true, fetches: 4},
	}
	for n, st := range steps {
		switch n {
		case 3:
			publish(firstPub, secondPub)
		case 6:
			publish(firstPub, secondPub, thirdPub)
		}
		nanos.Add(int64(st.advance))
		err := authenticate(st.signer, "jti-"+st.name)
		if (err == nil) != st.ok {
			t.Fatalf("%s: authentication error %v, want success %v", st.name, err, st.ok)
		}
		if got := fetches.Load(); got != st.fetches {
			t.Fatalf("%s: %d fetches of the client's JWKS, want %d", st.name, got, st.fetches)
		}
	}

	// The cache is bounded: two other URLs push the client's set out, and
	// its next assertion fetches it again.
	for _, path := range []string{"/a.json", "/b.json"} {
		if _, err := cache.Keys(t.Context(), srv.URL+path, ""); err != nil {
			t.Fatal(err)
		}
	}
	if n := cache.Len(); n != 2 {
		t.Fatalf("%d key sets cached, want the bound 2", n)
	}
	if err := authenticate(first, "jti-after-eviction"); err != nil {
		t.Fatal(err)
	}
	if got := fetches.Load(); got != 7 {
		t.Fatalf("%d fetches after the eviction, want 7", got)
	}
}
