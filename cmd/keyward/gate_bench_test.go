//go:build unix

package main

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/metrics"
	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/verifier"
)

// benchWriter is the smallest http.ResponseWriter: a fresh header map per
// request, as net/http gives, and a body that goes nowhere.
type benchWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *benchWriter) Header() http.Header { return w.h }

func (w *benchWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *benchWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(b)
	return len(b), nil
}

// benchCeiling is the no-auth ceiling of bench/gatetool: the demo routes
// with no authentication.
func benchCeiling() http.Handler {
	writeJSON := func(w http.ResponseWriter, status int, v any) {
		b, _ := json.Marshal(v)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(append(b, '\n'))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]string{"message": "This is a public route"})
	})
	mux.HandleFunc("GET /protected", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"message": "You have accessed a protected route!", "claims": map[string]any{}})
	})
	return mux
}

// BenchmarkGateHandler drives the handler `keyward gate` serves — built by
// setupGate as the command builds it, metrics and logger included — with
// in-process requests, next to the no-auth ceiling of bench/gate.sh and to
// the signature check alone, so that the gate's own overhead per request
// reads as (gate - ceiling) - raw, and directly in the hs256 rows. Run it
// with -cpu 1, as gate.sh pins the server to one core, and compare within
// one run:
//
//	go test ./cmd/keyward -run '^$' -bench GateHandler -cpu 1 -count 6
func BenchmarkGateHandler(b *testing.B) {
	const n = 256
	signer, set := gateKey(b)
	jwksSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=600")
		w.Write(set)
	}))
	defer jwksSrv.Close()
	iss := jwksSrv.URL
	now := time.Now()
	// The claims of gatetool gen.
	claims := func(i int) *jose.Claims {
		return &jose.Claims{
			Issuer: iss, Subject: fmt.Sprintf("user-%d", i), Audience: jose.Audience{"api"},
			IssuedAt: jose.NewNumericDate(now), Expiry: jose.NewNumericDate(now.Add(6 * time.Hour)),
			ID:    fmt.Sprintf("bench-%d", i),
			Extra: map[string]any{"scope": "read write", "email": fmt.Sprintf("user-%d@example.com", i)},
		}
	}
	tokens := make([]string, n)
	for i := range tokens {
		tok, err := signer.SignJWT("JWT", claims(i))
		if err != nil {
			b.Fatal(err)
		}
		tokens[i] = tok
	}
	newGate := func(b *testing.B, cacheSize int) http.Handler {
		g, err := setupGate(&gateOptions{
			jwksURL: iss + "/jwks.json", issuer: iss, audiences: []string{"api"}, algs: "RS256",
			leeway: 30 * time.Second, cacheSize: cacheSize,
		}, benchLogger(b))
		if err != nil {
			b.Fatal(err)
		}
		if err := g.keys.Refresh(b.Context()); err != nil {
			b.Fatal(err)
		}
		return g.handler
	}
	protected, _ := url.Parse("http://127.0.0.1:3000/protected")
	// run serves one request per iteration, built afresh as net/http
	// builds it, with the bearer token tokens[i%len(tokens)].
	run := func(b *testing.B, h http.Handler, tokens []string) {
		b.ReportAllocs()
		defer reportCPU(b)()
		i := 0
		for b.Loop() {
			r := &http.Request{
				Method: http.MethodGet, URL: protected, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header: http.Header{
					"Host":          {"127.0.0.1:3000"},
					"Authorization": {"Bearer " + tokens[i%len(tokens)]},
				},
				Host: "127.0.0.1:3000", RemoteAddr: "127.0.0.1:40000", RequestURI: "/protected",
			}
			w := &benchWriter{h: make(http.Header)}
			h.ServeHTTP(w, r)
			if w.status != http.StatusOK {
				b.Fatalf("status %d", w.status)
			}
			i++
		}
	}

	b.Run("ceiling", func(b *testing.B) { run(b, benchCeiling(), tokens) })
	b.Run("raw", func(b *testing.B) {
		// SHA-256 and rsa.VerifyPKCS1v15 of one token, as gatetool rawcheck.
		ks, err := jose.ParseJWKS(set)
		if err != nil {
			b.Fatal(err)
		}
		pub := ks.Keys[0].Key.(*rsa.PublicKey)
		tok := tokens[0]
		dot := strings.LastIndexByte(tok, '.')
		sig, err := base64.RawURLEncoding.DecodeString(tok[dot+1:])
		if err != nil {
			b.Fatal(err)
		}
		input := []byte(tok[:dot])
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			sum := sha256.Sum256(input)
			if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("nocache-distinct", func(b *testing.B) { run(b, newGate(b, 0), tokens) })
	b.Run("cache-repeated", func(b *testing.B) { run(b, newGate(b, 10000), tokens[:1]) })

	// The same handler verifying HS256 tokens, whose check costs about a
	// microsecond: what remains is the per-request overhead of the gate,
	// the middleware and the JOSE parsing, measured against the ceiling.
	secret, err := jose.NewJWK(jose.SharedSecret(bytes.Repeat([]byte{7}, 32)), jose.HS256)
	if err != nil {
		b.Fatal(err)
	}
	hs, err := jose.NewSigner(secret.Key, jose.HS256, secret.KeyID)
	if err != nil {
		b.Fatal(err)
	}
	hsTokens := make([]string, n)
	for i := range hsTokens {
		if hsTokens[i], err = hs.SignJWT("JWT", claims(i)); err != nil {
			b.Fatal(err)
		}
	}
	hsGate := func(b *testing.B, cacheSize int) http.Handler {
		o := &gateOptions{issuer: iss, audiences: []string{"api"}, leeway: 30 * time.Second, cacheSize: cacheSize}
		algs, err := jose.NewAlgorithmSet(jose.HS256)
		if err != nil {
			b.Fatal(err)
		}
		h, err := gateHandler(o, gateWiring{
			keys: verifier.StaticKeys(&jose.JWKS{Keys: []*jose.JWK{secret}}), algs: algs,
			reg: metrics.NewRegistry(), logger: benchLogger(b),
		})
		if err != nil {
			b.Fatal(err)
		}
		return h
	}
	b.Run("hs256-nocache-distinct", func(b *testing.B) { run(b, hsGate(b, 0), hsTokens) })
	b.Run("hs256-cache-repeated", func(b *testing.B) { run(b, hsGate(b, 10000), hsTokens[:1]) })
}

// reportCPU reports the process's CPU time (user and system, garbage
// collection included) per iteration, as cpu-ns/op: like the CPU per
// request of bench/gate.sh, it is less disturbed than ns/op by other work
// on a shared machine. Call the function it returns when the loop is done.
func reportCPU(b *testing.B) func() {
	start := cpuTime(b)
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchLogger(b *testing.B) *slog.Logger {
	logger, err := newLogger(io.Discard, "text", "info")
	if err != nil {
		b.Fatal(err)
	}
	return logger
}
