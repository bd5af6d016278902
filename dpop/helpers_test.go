package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"math/big"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/keyward/keyward/jose"
)

// t0 is the tests' clock.
var t0 = time.Unix(1_800_000_000, 0)

func fixedNow() time.Time { return t0 }

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

// testRSA returns the pre-generated RSA key of testdata.
func testRSA(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	rsaOnce.Do(func() {
		b, err := os.ReadFile("testdata/rsa.pem")
		if err != nil {
			return
		}
		k, err := jose.ParseKeyPEM(b)
		if err != nil {
			return
		}
		rsaKey, _ = k.(*rsa.PrivateKey)
	})
	if rsaKey == nil {
		t.Fatal("testdata/rsa.pem: no RSA private key")
	}
	return rsaKey
}

func newEC(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// publicJWK returns the JSON of key's public JWK.
func publicJWK(t testing.TB, key crypto.Signer) string {
	t.Helper()
	j, err := jose.NewJWK(key.Public(), "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// privateJWK returns the JSON of key's private JWK.
func privateJWK(t testing.TB, key crypto.Signer) string {
	t.Helper()
	j, err := jose.NewJWK(key, "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := j.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var b64 = base64.RawURLEncoding

// signRaw returns the compact JWS of header and payload, both JSON as
// given, signed with key under alg ("none" leaves the signature empty; a
// []byte key is an HMAC secret).
func signRaw(t testing.TB, key any, alg, header, payload string) string {
	t.Helper()
	input := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	var sig []byte
	digest := func(h crypto.Hash) []byte {
		hh := h.New()
		hh.Write([]byte(input))
		return hh.Sum(nil)
	}
	var err error
	switch k := key.(type) {
	case nil:
	case []byte:
		m := hmac.New(sha256.New, k)
		m.Write([]byte(input))
		sig = m.Sum(nil)
	case *ecdsa.PrivateKey:
		h := crypto.SHA256
		switch k.Curve {
		case elliptic.P384():
			h = crypto.SHA384
		case elliptic.P521():
			h = crypto.SHA512
		}
		var r, s *big.Int
		der, err := ecdsa.SignASN1(rand.Reader, k, digest(h))
		if err != nil {
			t.Fatal(err)
		}
		r, s = parseDER(t, der)
		size := (k.Curve.Params().BitSize + 7) / 8
		sig = make([]byte, 2*size)
		r.FillBytes(sig[:size])
		s.FillBytes(sig[size:])
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, []byte(input))
	case *rsa.PrivateKey:
		if alg[0] == 'P' {
			sig, err = rsa.SignPSS(rand.Reader, k, crypto.SHA256, digest(crypto.SHA256), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, digest(crypto.SHA256))
		}
	default:
		t.Fatalf("signRaw: key type %T", key)
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64.EncodeToString(sig)
}

func parseDER(t testing.TB, der []byte) (*big.Int, *big.Int) {
	t.Helper()
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(der, &rs); err != nil {
		t.Fatal(err)
	}
	return rs.R, rs.S
}

// claimsJSON encodes proof claims.
func claimsJSON(t testing.TB, c map[string]any) string {
	t.Helper()
	b, err := json.Marshal(c, json.Deterministic(true))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
