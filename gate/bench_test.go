package gate

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/verifier"
)

// discardWriter is the smallest ResponseWriter: a fresh header map per
// request, as net/http gives, and a body that goes nowhere.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.h }

func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *discardWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(b), nil
}

// BenchmarkDemoProtected measures the gate's handler alone on GET
// /protected: an RS256 token with the verified-token cache and without it,
// and an HS256 token without the cache, whose check costs about a
// microsecond, so that the gate's own overhead stands out. Each request is
// built afresh, as net/http builds it.
func BenchmarkDemoProtected(b *testing.B) {
	key := loadKey(&testing.T{}, "rsa-a.pem")
	secret, err := jose.NewJWK(jose.SharedSecret(bytes.Repeat([]byte{7}, 32)), jose.HS256)
	if err != nil {
		b.Fatal(err)
	}
	hs, err := jose.NewSigner(secret.Key, jose.HS256, secret.KeyID)
	if err != nil {
		b.Fatal(err)
	}
	hsKey := &testKey{pub: secret, signer: hs}
	tests := []struct {
		name      string
		key       *testKey
		alg       jose.Algorithm
		cacheSize int
		badSig    bool
	}{
		{"cached", key, jose.RS256, 0, false},
		{"uncached", key, jose.RS256, -1, false},
		{"badsig", key, jose.RS256, -1, true},
		{"hs256-uncached", hsKey, jose.HS256, -1, false},
		{"hs256-badsig", hsKey, jose.HS256, -1, true},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			v, err := verifier.New(verifier.Config{
				Keys:       verifier.StaticKeys(&jose.JWKS{Keys: []*jose.JWK{tt.key.pub}}),
				Issuers:    []string{testIssuer},
				Audiences:  []string{testAudience},
				Algorithms: []jose.Algorithm{tt.alg},
				CacheSize:  tt.cacheSize,
			})
			if err != nil {
				b.Fatal(err)
			}
			h, err := New(Config{Verifier: v})
			if err != nil {
				b.Fatal(err)
			}
			token := tt.key.token(&testing.T{}, nil)
			want := http.StatusOK
			if tt.badSig {
				// A well-formed signature of the right length that does
				// not verify.
				b := []byte(token)
				if i := len(b) - 10; b[i] == 'A' {
					b[i] = 'B'
				} else {
					b[i] = 'A'
				}
				token = string(b)
				want = http.StatusUnauthorized
			}
			auth := "Bearer " + token
			proto, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://127.0.0.1:3000/protected", nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				r := *proto
				r.Header = http.Header{"Authorization": {auth}}
				w := &discardWriter{h: make(http.Header)}
				h.ServeHTTP(w, &r)
				if w.status != want {
					b.Fatal(w.status)
				}
			}
		})
	}
}
