package dpop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/keyward/keyward/jose"
)

// fuzzKey is a fixed P-256 key, so that the seed corpus holds proofs that
// verify. It protects nothing.
func fuzzKey() *ecdsa.PrivateKey {
	d, _ := new(big.Int).SetString("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721", 16)
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d.FillBytes(make([]byte, 32)))
	if err != nil {
		panic(err)
	}
	return k
}

// FuzzProof runs arbitrary proofs through every check of Checker.Check:
// nothing panics, an accepted proof has a public key whose thumbprint is
// its JKT and claims equal to the request's, and no proof is accepted
// twice.
func FuzzProof(f *testing.F) {
	key := fuzzKey()
	s, err := NewProofSigner(key, "", fixedNow, nil)
	if err != nil {
		f.Fatal(err)
	}
	target := mustURL(f, testURL)
	for _, tok := range []string{testToken, ""} {
		p, err := s.Sign("GET", target, tok, "")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p, tok)
	}
	f.Add("", "")
	f.Add("a.b.c", testToken)
	f.Add("eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6Im5vbmUifQ.e30.", "")
	// Every checker knows the seed key's header, so that mutated payloads
	// and signatures under it take the path of a known key.
	seed, err := s.Sign("GET", target, "", "")
	if err != nil {
		f.Fatal(err)
	}
	seedJWS, seedKey, err := jose.ParseEmbedded(seed, 0)
	if err != nil {
		f.Fatal(err)
	}
	seedH64, _, _ := strings.Cut(seed, ".")
	f.Fuzz(func(t *testing.T, proof, token string) {
		c, err := NewChecker(Config{Now: fixedNow})
		if err != nil {
			t.Fatal(err)
		}
		c.keys.Add(seedH64, &knownKey{header: seedJWS.Header, key: seedKey, jkt: s.JKT()})
		p, err := c.Check(proof, "GET", target, token)
		if err != nil {
			if p != nil {
				t.Fatal("a proof with an error")
			}
			if !errors.Is(err, ErrInvalidProof) {
				t.Fatalf("error of no category: %v", err)
			}
			return
		}
		jkt, err := p.Key.Thumbprint()
		if err != nil || jkt != p.JKT || !p.Key.IsPublic() {
			t.Fatalf("accepted proof with key %v, jkt %q", p.Key, p.JKT)
		}
		if p.Method != "GET" || p.URL != testURL || p.ID == "" || token != "" && !ATHMatches(p.ATH, token) {
			t.Fatalf("accepted proof %+v", p)
		}
		if _, err := c.Check(proof, "GET", target, token); !errors.Is(err, ErrReplay) {
			t.Fatalf("replay: %v", err)
		}
	})
}
