package dpop_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/dpop"
	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/verifier"
)

// handlerTransport answers requests in process with a handler, counting
// them.
type handlerTransport struct {
	h http.Handler
	n atomic.Int32
}

func (t *handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	in := r.Clone(r.Context())
	in.Host = r.URL.Host
	in.RequestURI = r.URL.RequestURI()
	w := httptest.NewRecorder()
	t.h.ServeHTTP(w, in)
	if r.Body != nil {
		r.Body.Close()
	}
	return w.Result(), nil
}

func newSigner(t *testing.T) *dpop.ProofSigner {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := dpop.NewProofSigner(k, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newNonces(t *testing.T) *dpop.Nonces {
	t.Helper()
	n, err := dpop.NewNonces([]byte("0123456789abcdef0123456789abcdef"), time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTransportResourceServer calls a resource server that requires DPoP
// and nonces through a Transport: the first call takes one use_dpop_nonce
// round, the next ones none.
func TestTransportResourceServer(t *testing.T) {
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
	v, err := verifier.New(verifier.Config{Keys: verifier.StaticKeys(&jose.JWKS{Keys: []*jose.JWK{pub}}),
		Issuers: []string{"https://issuer.example"}, Audiences: []string{"api"}, Algorithms: []jose.Algorithm{jose.ES256}})
	if err != nil {
		t.Fatal(err)
	}
	checker, err := dpop.NewChecker(dpop.Config{Nonces: newNonces(t)})
	if err != nil {
		t.Fatal(err)
	}
	h := verifier.Middleware(v, verifier.MiddlewareConfig{DPoP: verifier.DPoPConfig{Mode: verifier.DPoPRequired, Checker: checker}})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, _ := verifier.ClaimsFrom(r.Context())
			io.WriteString(w, "hello "+c.Subject)
		}))
	signer := newSigner(t)
	c := &jose.Claims{Issuer: "https://issuer.example", Subject: "svc", Audience: jose.Audience{"api"},
		Expiry: jose.NewNumericDate(time.Now().Add(time.Hour))}
	dpop.Bind(c, signer.JKT())
	token, err := issuer.SignJWT("at+jwt", c)
	if err != nil {
		t.Fatal(err)
	}
	base := &handlerTransport{h: h}
	client := &http.Client{Transport: &dpop.Transport{
		Signer: signer,
		Token:  func(context.Context) (string, error) { return token, nil },
		Base:   base,
	}}
	for i, wantTrips := range []int32{2, 3, 4} {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", "http://api.example/orders?page=1", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "hello svc" {
			t.Fatalf("call %d: %d %s", i, resp.StatusCode, body)
		}
		if got := base.n.Load(); got != wantTrips {
			t.Errorf("after call %d: %d round trips, want %d", i, got, wantTrips)
		}
		if req.Header.Get("DPoP") != "" || req.Header.Get("Authorization") != "" {
			t.Error("the Transport modified the caller's request")
		}
	}
}

// tokenEndpoint is an authorization server's token endpoint that requires
// nonces: 400 use_dpop_nonce in JSON, as RFC 9449 §8 shows.
func tokenEndpoint(t *testing.T, checker *dpop.Checker, nonces *dpop.Nonces) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if string(body) != "grant_type=client_credentials" {
			t.Errorf("body %q", body)
		}
		proof, err := dpop.FromRequest(r)
		if err == nil {
			u := *r.URL
			u.Scheme, u.Host = "http", r.Host
			_, err = checker.Check(proof, r.Method, &u, "")
		}
		w.Header().Set("DPoP-Nonce", nonces.Current())
		w.Header().Set("Content-Type", "application/json")
		switch {
		case errors.Is(err, dpop.ErrUseNonce):
			w.WriteHeader(400)
			io.WriteString(w, `{"error":"use_dpop_nonce","error_description":"Authorization server requires nonce in DPoP proof"}`)
		case err != nil:
			w.WriteHeader(400)
			io.WriteString(w, `{"error":"invalid_dpop_proof"}`)
		default:
			io.WriteString(w, `{"access_token":"t","token_type":"DPoP"}`)
		}
	})
}

func TestTransportTokenEndpoint(t *testing.T) {
	t.Parallel()
	nonces := newNonces(t)
	checker, err := dpop.NewChecker(dpop.Config{Nonces: nonces})
	if err != nil {
		t.Fatal(err)
	}
	base := &handlerTransport{h: tokenEndpoint(t, checker, nonces)}
	client := &http.Client{Transport: &dpop.Transport{Signer: newSigner(t), Base: base}}
	post := func(body io.Reader) (*http.Response, string) {
		req, _ := http.NewRequestWithContext(t.Context(), "POST", "http://as.example/token", body)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	// A body that cannot be sent twice is not retried, but the nonce is
	// learned.
	resp, body := post(io.NopCloser(strings.NewReader("grant_type=client_credentials")))
	if resp.StatusCode != 400 || !strings.Contains(body, "use_dpop_nonce") || base.n.Load() != 1 {
		t.Fatalf("unreplayable body: %d %s after %d round trips", resp.StatusCode, body, base.n.Load())
	}
	resp, body = post(strings.NewReader("grant_type=client_credentials"))
	if resp.StatusCode != 200 || base.n.Load() != 2 {
		t.Fatalf("with the learned nonce: %d %s after %d round trips", resp.StatusCode, body, base.n.Load())
	}
	// Another transport learns it with one retry.
	base2 := &handlerTransport{h: tokenEndpoint(t, checker, nonces)}
	client.Transport = &dpop.Transport{Signer: newSigner(t), Base: base2}
	resp, body = post(strings.NewReader("grant_type=client_credentials"))
	if resp.StatusCode != 200 || base2.n.Load() != 2 || !strings.Contains(body, `"token_type":"DPoP"`) {
		t.Fatalf("retry: %d %s after %d round trips", resp.StatusCode, body, base2.n.Load())
	}
}

func TestTransportErrors(t *testing.T) {
	t.Parallel()
	closed := &closeRecorder{Reader: strings.NewReader("x")}
	tr := &dpop.Transport{Signer: newSigner(t), Token: func(context.Context) (string, error) { return "", errors.New("no token") },
		Base: &handlerTransport{h: http.NotFoundHandler()}}
	req, _ := http.NewRequestWithContext(t.Context(), "POST", "http://api.example/", closed)
	if _, err := tr.RoundTrip(req); err == nil || !closed.closed {
		t.Fatalf("token error: %v, body closed %v", err, closed.closed)
	}
	if _, err := (&dpop.Transport{}).RoundTrip(httptest.NewRequest("GET", "http://api.example/", nil)); err == nil {
		t.Fatal("Transport without a Signer passed")
	}
	// A 400 that is not JSON, or another error, is passed on untouched.
	tr = &dpop.Transport{Signer: newSigner(t), Base: &handlerTransport{h: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("DPoP-Nonce", "n")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		io.WriteString(w, `{"error":"invalid_grant"}`)
	})}}
	u, _ := url.Parse("http://as.example/token")
	resp, err := tr.RoundTrip(&http.Request{Method: "GET", URL: u, Header: http.Header{}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || string(b) != `{"error":"invalid_grant"}` {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }
