package issuer

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/jose"
	"github.com/keyward/keyward/storage/memory"
	"github.com/keyward/keyward/storage/sqlite"
)

// benchKeys are the pre-generated keys of the benchmarks.
var benchKeys = map[jose.Algorithm]string{jose.ES256: "p256.pem", jose.EdDSA: "ed25519.pem", jose.RS256: "rsa2048.pem"}

// benchIssuer returns an issuer signing with a static pre-generated key.
func benchIssuer(b *testing.B, store keyward.Store, alg jose.Algorithm) *Issuer {
	b.Helper()
	km, err := NewKeyManager(KeyManagerConfig{Static: testKey(b, benchKeys[alg]), Alg: alg})
	if err != nil {
		b.Fatal(err)
	}
	iss, err := New(Config{Store: store, Keys: km, Issuer: "https://issuer.test", Password: testPassword})
	if err != nil {
		b.Fatal(err)
	}
	return iss
}

// benchClaims are claims the size of a client_credentials access token.
func benchClaims() *jose.Claims {
	now := time.Now()
	return &jose.Claims{
		Issuer: "https://issuer.test", Subject: "svc", Audience: jose.Audience{"orders"},
		Expiry: jose.NewNumericDate(now.Add(15 * time.Minute)), IssuedAt: jose.NewNumericDate(now),
		ID:    "AAAAAAAAAAAAAAAAAAAAAA",
		Extra: map[string]any{"client_id": "svc", "scope": "read write"},
	}
}

func reportRate(b *testing.B, unit string) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
}

// BenchmarkIssue measures tokens issued through the client_credentials grant
// (client authentication included) next to the cost of signing the same
// claims with jose.Signer and with the standard library alone, per
// algorithm, in one run. Each sub-benchmark runs on one goroutine, so the
// ratios compare like with like.
func BenchmarkIssue(b *testing.B) {
	for _, alg := range []jose.Algorithm{jose.ES256, jose.EdDSA, jose.RS256} {
		key := testKey(b, benchKeys[alg])
		b.Run(string(alg)+"/client_credentials", func(b *testing.B) {
			store := memory.New(memory.Config{})
			secret, hash, err := NewClientSecret(nil)
			if err != nil {
				b.Fatal(err)
			}
			if err := store.CreateClient(context.Background(), keyward.Client{ID: "svc", SecretHash: hash,
				GrantTypes: []string{GrantClientCredentials}, Scopes: []string{"read", "write"}, Audience: "orders"}); err != nil {
				b.Fatal(err)
			}
			iss := benchIssuer(b, store, alg)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				c, err := iss.AuthenticateClient(ctx, "svc", secret)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := iss.ClientCredentials(ctx, c, ""); err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b, "tokens/s")
		})
		b.Run(string(alg)+"/jose_sign", func(b *testing.B) {
			s, err := jose.NewSigner(key, alg, "kid")
			if err != nil {
				b.Fatal(err)
			}
			c := benchClaims()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.SignJWT("at+jwt", c); err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b, "signs/s")
		})
		b.Run(string(alg)+"/stdlib_sign", func(b *testing.B) {
			payload, _ := benchClaims().MarshalJSON()
			msg := []byte(`eyJhbGciOiJSUzI1NiIsImtpZCI6ImtpZCIsInR5cCI6ImF0K2p3dCJ9.` + string(payload))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				switch k := key.(type) {
				case *rsa.PrivateKey:
					d := sha256.Sum256(msg)
					_, err = rsa.SignPKCS1v15(nil, k, crypto.SHA256, d[:])
				case *ecdsa.PrivateKey:
					d := sha256.Sum256(msg)
					_, err = ecdsa.SignASN1(rand.Reader, k, d[:])
				case ed25519.PrivateKey:
					_ = ed25519.Sign(k, msg)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b, "signs/s")
		})
	}
}

// BenchmarkRefreshSQLite measures refresh-token rotations on a SQLite store
// in a temporary directory, from parallel goroutines, each rotating its own
// token family: one GetRefreshToken, one GetUser, one atomic rotation and an
// ES256 access token per operation, no argon2id.
func BenchmarkRefreshSQLite(b *testing.B) {
	store, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(b.TempDir(), "keyward.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	iss := benchIssuer(b, store, jose.ES256)
	ctx := context.Background()
	u, err := NewUser(ctx, store, "alice", "pw", []string{"reader"}, map[string]any{"email": "alice@example.com"}, testPassword, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		tok, err := iss.newRefreshFamily(ctx, time.Now(), keyward.RefreshToken{UserID: u.ID, ClientID: FirstPartyClientID, Audience: []string{"api"}})
		if err != nil {
			b.Error(err)
			return
		}
		for pb.Next() {
			resp, err := iss.Refresh(ctx, RefreshRequest{Token: tok})
			if err != nil {
				b.Error(err)
				return
			}
			tok = resp.RefreshToken
		}
	})
	reportRate(b, "refreshes/s")
}
