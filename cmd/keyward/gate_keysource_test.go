package main

import (
	"crypto"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/issuer"
	"github.com/keyward/keyward/jose"
)

// loadSigner returns a signer and the public JWK of a test key of the
// verifier's testdata.
func loadSigner(t *testing.T, file string, alg jose.Algorithm) (*jose.Signer, *jose.JWK) {
	t.Helper()
	data, err := os.ReadFile("../../verifier/testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	key, err := jose.ParseKeyPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jose.NewJWK(key.(crypto.Signer).Public(), alg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jose.NewSigner(key, alg, pub.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	return s, pub
}

// faultyJWKS is a JWKS server whose answer the test switches: a fault, or
// the key set it holds.
type faultyJWKS struct {
	mu    sync.Mutex
	fault string // "", "500", "html", "truncated", "huge"
	body  []byte
}

func (f *faultyJWKS) set(fault string, keys ...*jose.JWK) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault = fault
	if keys != nil {
		b, err := (&jose.JWKS{Keys: keys}).MarshalJSON()
		if err != nil {
			panic(err)
		}
		f.body = b
	}
}

func (f *faultyJWKS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	fault, body := f.fault, f.body
	f.mu.Unlock()
	switch fault {
	case "500":
		http.Error(w, "internal error", http.StatusInternalServerError)
	case "html":
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html><body>starting</body></html>"))
	case "truncated":
		w.Header().Set("Content-Type", "application/json")
		w.Write(body[:len(body)/2])
	case "huge":
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"keys":[],"pad":"` + strings.Repeat("x", 2<<20) + `"}`))
	default:
		// A long lifetime: the set is fresh throughout, so the rotation
		// below is met by an unknown-kid fetch, not a scheduled one.
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Write(body)
	}
}

// TestGateKeySourceEndToEnd runs `keyward gate` against a real JWKS server
// on loopback that is at first not listening at all, then answers with
// faults (500, HTML, truncated JSON, a body over the size cap), then
// comes up: the gate answers 503 with Retry-After meanwhile and is not
// ready, then accepts a token within 2 s of the server's health. Then the
// issuer rotates and signs with its new key at once: the first token with
// the new kid is accepted. The one test here in real time; about 3 s.
func TestGateKeySourceEndToEnd(t *testing.T) {
	t.Parallel()
	oldKey, oldPub := loadSigner(t, "rsa-a.pem", jose.RS256)
	newKey, newPub := loadSigner(t, "ec256.pem", jose.ES256)

	// Reserve an address and leave it closed: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	iss := "http://" + addr
	jwks := &faultyJWKS{}
	jwks.set("", oldPub)

	base, logs, stop := startGateCmd(t, nil, "--jwks-url", iss+"/jwks.json", "--issuer", iss,
		"--audience", "api", "--token-type", "at+jwt")
	defer func() {
		if code := stop(); code != 0 {
			t.Errorf("gate exited with %d: %s", code, logs)
		}
	}()
	mint := func(s *jose.Signer) string {
		now := time.Now()
		tok, err := s.SignJWT(issuer.AccessTokenType, &jose.Claims{Issuer: iss, Subject: "alice", Audience: jose.Audience{"api"},
			IssuedAt: jose.NewNumericDate(now), Expiry: jose.NewNumericDate(now.Add(time.Hour))})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tok := mint(oldKey)

	unavailable := func(phase string) {
		t.Helper()
		status, hdr, body := httpGet(t, base+"/protected", tok)
		if status != http.StatusServiceUnavailable || hdr.Get("Retry-After") != "1" || !strings.Contains(body, "temporarily_unavailable") {
			t.Fatalf("%s: %d Retry-After %q %s; want 503, Retry-After 1, temporarily_unavailable", phase, status, hdr.Get("Retry-After"), body)
		}
		if status, _, body := httpGet(t, base+"/.keyward/healthz", ""); status != http.StatusServiceUnavailable {
			t.Fatalf("%s: health %d %s, want 503", phase, status, body)
		}
	}
	unavailable("connection refused")

	srv := &http.Server{Handler: jwks, ReadHeaderTimeout: time.Second}
	for _, fault := range []string{"500", "html", "truncated", "huge"} {
		jwks.set(fault)
		if srv.Addr == "" {
			srv.Addr = addr
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				t.Skipf("the reserved address was taken meanwhile: %v", err)
			}
			go srv.Serve(ln)
			t.Cleanup(func() { srv.Close() })
		}
		time.Sleep(300 * time.Millisecond) // enough for an attempt to meet the fault
		unavailable(fault)
	}

	jwks.set("")
	healthy := time.Now()
	var recovery time.Duration
	for {
		status, _, body := httpGet(t, base+"/protected", tok)
		if status == http.StatusOK {
			recovery = time.Since(healthy)
			break
		}
		if status != http.StatusServiceUnavailable {
			t.Fatalf("while recovering: %d %s", status, body)
		}
		if time.Since(healthy) > 3*time.Second {
			t.Fatalf("still 503 %v after the JWKS server became healthy", time.Since(healthy))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("first token accepted %v after the JWKS server became healthy", recovery.Round(time.Millisecond))
	if recovery >= 2*time.Second {
		t.Errorf("recovery took %v, want under 2 s", recovery)
	}
	if status, _, body := httpGet(t, base+"/.keyward/healthz", ""); status != http.StatusOK {
		t.Errorf("health after recovery: %d %s", status, body)
	}

	// Rotation right after a fetch: the new key is published and signs at
	// once.
	jwks.set("", oldPub, newPub)
	if status, _, body := httpGet(t, base+"/protected", mint(newKey)); status != http.StatusOK {
		t.Fatalf("the first token with the new kid: %d %s, want 200", status, body)
	}
	if status, _, body := httpGet(t, base+"/protected", tok); status != http.StatusOK {
		t.Fatalf("a token of the old key after the rotation: %d %s", status, body)
	}

	_, _, metrics := httpGet(t, base+"/.keyward/metrics", "")
	for _, want := range []string{
		`keyward_jwks_fetches_total{result="error",trigger="recovery"}`,
		`keyward_jwks_fetches_total{result="ok",trigger="recovery"} 1`,
		`keyward_jwks_fetches_total{result="ok",trigger="unknown_kid"} 1`,
		`keyward_jwks_usable 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	out := logs.String()
	for _, want := range []string{"msg=key_set_unusable", "msg=key_set_recovered", "kids=" + oldPub.KeyID + "," + newPub.KeyID} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %s:\n%s", want, out)
		}
	}
}
