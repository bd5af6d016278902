package gate

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/verifier"
)

// BenchmarkDemoProtected measures the gate's handler alone on GET
// /protected, with the verified-token cache and without it.
func BenchmarkDemoProtected(b *testing.B) {
	key := loadKey(&testing.T{}, "rsa-a.pem")
	tok := key.token(&testing.T{}, nil)
	for _, size := range []int{0, -1} {
		name := "cached"
		if size < 0 {
			name = "uncached"
		}
		b.Run(name, func(b *testing.B) {
			v, err := verifier.New(verifier.Config{
				Keys:       verifier.StaticKeys(&jose.JWKS{Keys: []*jose.JWK{key.pub}}),
				Issuers:    []string{testIssuer},
				Audiences:  []string{testAudience},
				Algorithms: []jose.Algorithm{jose.RS256},
				CacheSize:  size,
			})
			if err != nil {
				b.Fatal(err)
			}
			h, err := New(Config{Verifier: v})
			if err != nil {
				b.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodGet, "/protected", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatal(w.Code)
				}
			}
		})
	}
}
