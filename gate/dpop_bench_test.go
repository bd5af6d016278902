//go:build unix

package gate

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"math/big"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/keyward/keyward/dpop"
	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/verifier"
)

// dpopBench is the gate in proxy mode with DPoP allowed, in front of an
// upstream answered in process, with an ES256 issuer key and an ES256
// client key: a Bearer token and a DPoP-bound token of the same issuer.
type dpopBench struct {
	gate          http.Handler
	bearer, bound string
	client        *dpop.ProofSigner
	public        *url.URL
	// key is the client's public key, parsed, for the bare checks.
	key *ecdsa.PublicKey
}

// raw is one bare ES256 check of a proof: SHA-256 of its signing input and
// ecdsa.VerifyASN1 of its signature in DER with the parsed key, no parsing.
func (d *dpopBench) raw(input, sig []byte) bool {
	h := sha256.Sum256(input)
	return ecdsa.VerifyASN1(d.key, h[:], sig)
}

func newDPoPBench(b *testing.B, cacheSize int) *dpopBench {
	b.Helper()
	issuerKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	pub, err := jose.NewJWK(issuerKey.Public(), "")
	if err != nil {
		b.Fatal(err)
	}
	issuer, err := jose.NewSigner(issuerKey, "", pub.KeyID)
	if err != nil {
		b.Fatal(err)
	}
	clientKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	client, err := dpop.NewProofSigner(clientKey, "", nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	v, err := verifier.New(verifier.Config{
		Keys:       verifier.StaticKeys(&jose.JWKS{Keys: []*jose.JWK{pub}}),
		Issuers:    []string{testIssuer},
		Audiences:  []string{testAudience},
		Algorithms: []jose.Algorithm{jose.ES256},
		CacheSize:  cacheSize,
	})
	if err != nil {
		b.Fatal(err)
	}
	origin, _ := url.Parse("https://api.example.com")
	upURL, _ := url.Parse("http://upstream.test")
	g, err := New(Config{Verifier: v, Upstream: upURL, Transport: inprocTransport{},
		DPoP: verifier.DPoPConfig{Mode: verifier.DPoPAllowed, Origin: origin}})
	if err != nil {
		b.Fatal(err)
	}
	mint := func(bound bool) string {
		now := time.Now()
		c := &jose.Claims{Issuer: testIssuer, Subject: "user-42", Audience: jose.Audience{testAudience},
			IssuedAt: jose.NewNumericDate(now), Expiry: jose.NewNumericDate(now.Add(time.Hour)),
			Extra: map[string]any{"scope": "read write"}}
		if bound {
			dpop.Bind(c, client.JKT())
		}
		tok, err := issuer.SignJWT("at+jwt", c)
		if err != nil {
			b.Fatal(err)
		}
		return tok
	}
	public, _ := url.Parse("https://api.example.com/orders/7")
	proof, err := client.Sign(http.MethodGet, public, "t", "")
	if err != nil {
		b.Fatal(err)
	}
	_, key, err := jose.ParseEmbedded(proof, 0)
	if err != nil {
		b.Fatal(err)
	}
	return &dpopBench{gate: g, bearer: mint(false), bound: mint(true), client: client, public: public, key: key.Key.(*ecdsa.PublicKey)}
}

// signingInputAndDER returns a compact ES256 JWS's signing input and its
// signature in ASN.1 DER, as ecdsa.VerifyASN1 takes it.
func signingInputAndDER(b *testing.B, jws string) ([]byte, []byte) {
	b.Helper()
	i := len(jws) - 1
	for jws[i] != '.' {
		i--
	}
	rs, err := base64URL(jws[i+1:])
	if err != nil || len(rs) != 64 {
		b.Fatalf("signature: %v", err)
	}
	return []byte(jws[:i]), appendDERSignature(rs[:32], rs[32:])
}

// serve sends one GET /orders/7, with a Bearer token or with a DPoP-bound
// token and proof, built afresh as net/http builds a request, and checks
// the answer.
func (d *dpopBench) serve(b *testing.B, token, proof string) {
	scheme := "Bearer "
	if proof != "" {
		scheme = "DPoP "
	}
	h := http.Header{
		"Authorization": {scheme + token},
		"Accept":        {"application/json"},
		"User-Agent":    {"bench"},
	}
	if proof != "" {
		h["Dpop"] = []string{proof}
	}
	r := (&http.Request{
		Method:     http.MethodGet,
		URL:        &url.URL{Path: "/orders/7"},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Host:       "10.0.0.7:3000",
		RemoteAddr: "127.0.0.1:50000",
		RequestURI: "/orders/7",
	}).WithContext(context.Background())
	w := &discardWriter{h: make(http.Header)}
	d.gate.ServeHTTP(w, r)
	if w.status != http.StatusOK {
		b.Fatalf("status %d", w.status)
	}
}

// BenchmarkDPoPRatio runs, in turn, batches of Bearer requests, of DPoP
// requests (each with a fresh proof, made before its batch is timed) and
// of Bearer requests each followed by a bare ES256 check of one of the same
// proofs' signatures (the raw check in situ, as bench/gate.sh measures the
// raw RS256 check: its cost is that batch's less the Bearer batch's), and
// charges each the CPU time of the whole process over its batch (see
// BenchmarkProxyRatio), with the verified-token cache on ("cached": the
// tokens are verified once, the proofs every request) and off
// ("uncached"). It reports "dpop/bearer", the CPU of a DPoP request over a
// Bearer one's (acceptance: at most 2.1 uncached), and "(dpop-bearer)/raw",
// what DPoP adds to a request in raw ES256 checks (acceptance: at most 1.1
// cached).
func BenchmarkDPoPRatio(b *testing.B) {
	const batch = 16
	for _, mode := range []struct {
		name      string
		cacheSize int
	}{{"cached", 0}, {"uncached", -1}} {
		b.Run(mode.name, func(b *testing.B) {
			d := newDPoPBench(b, mode.cacheSize)
			// Each batch has fresh proofs, and the bare checks verify
			// the signatures of the same proofs: no check ever sees the
			// same input twice.
			proofs := make([]string, batch)
			inputs, sigs := make([][]byte, batch), make([][]byte, batch)
			sign := func() {
				for i := range proofs {
					p, err := d.client.Sign(http.MethodGet, d.public, d.bound, "")
					if err != nil {
						b.Fatal(err)
					}
					proofs[i] = p
					inputs[i], sigs[i] = signingInputAndDER(b, p)
				}
			}
			for range 50 {
				sign()
				for i := range batch {
					d.serve(b, d.bearer, "")
					d.serve(b, d.bound, proofs[i])
					d.raw(inputs[i], sigs[i])
				}
			}
			var cpu [3]time.Duration
			n := 0
			for b.Loop() {
				sign()
				for k := range 3 {
					j := (n + k) % 3
					t0 := processCPU(b)
					switch j {
					case 0:
						for range batch {
							d.serve(b, d.bearer, "")
						}
					case 1:
						for _, p := range proofs {
							d.serve(b, d.bound, p)
						}
					case 2:
						// The bare check in situ: each one after a
						// Bearer request, as a proof's check comes in
						// a request, with what the request left in the
						// caches.
						for i := range batch {
							d.serve(b, d.bearer, "")
							if !d.raw(inputs[i], sigs[i]) {
								b.Fatal("bare check failed")
							}
						}
					}
					cpu[j] += processCPU(b) - t0
				}
				n++
			}
			reqs := float64(n * batch)
			bearer, dp := float64(cpu[0])/reqs, float64(cpu[1])/reqs
			raw := float64(cpu[2])/reqs - bearer
			b.ReportMetric(dp/bearer, "dpop/bearer")
			b.ReportMetric((dp-bearer)/raw, "(dpop-bearer)/raw")
			b.ReportMetric(bearer, "bearer-cpu-ns/req")
			b.ReportMetric(dp, "dpop-cpu-ns/req")
			b.ReportMetric(raw, "raw-es256-cpu-ns")
		})
	}
}

func base64URL(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

// appendDERSignature encodes R and S as an ASN.1 DER ECDSA signature.
func appendDERSignature(r, s []byte) []byte {
	der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(r), new(big.Int).SetBytes(s)})
	if err != nil {
		panic(err)
	}
	return der
}
