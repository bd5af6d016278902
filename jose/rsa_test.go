//go:build !keyward_nobigmod

package jose

import (
	"crypto"
	"crypto/rsa"
	"math/big"
	"testing"
)

// rawSign is the RSA private-key operation on em, with the CRT values of
// priv: it signs any encoding, well-formed or not.
func rawSign(tb testing.TB, priv *rsa.PrivateKey, em []byte) []byte {
	tb.Helper()
	c := new(big.Int).SetBytes(em)
	if c.Cmp(priv.N) >= 0 {
		tb.Fatalf("encoding not below N")
	}
	p, q := priv.Primes[0], priv.Primes[1]
	s1 := new(big.Int).Exp(c, priv.Precomputed.Dp, p)
	s2 := new(big.Int).Exp(c, priv.Precomputed.Dq, q)
	h := new(big.Int).Sub(s1, s2)
	h.Mul(h, priv.Precomputed.Qinv).Mod(h, p)
	s := h.Mul(h, q).Add(h, s2)
	return s.FillBytes(make([]byte, priv.Size()))
}

// pkcs1Encoding is EMSA-PKCS1-v1_5 (RFC 8017 §9.2) of hashed for a k-byte
// modulus, built independently of verifyPKCS1v15.
func pkcs1Encoding(hash crypto.Hash, hashed []byte, k int) []byte {
	prefix := map[crypto.Hash][]byte{crypto.SHA256: prefixSHA256, crypto.SHA384: prefixSHA384, crypto.SHA512: prefixSHA512}[hash]
	t := append(append([]byte{}, prefix...), hashed...)
	em := []byte{0, 1}
	for len(em) < k-len(t)-1 {
		em = append(em, 0xff)
	}
	return append(append(em, 0), t...)
}

func rsaTestKey(tb testing.TB, name string) *rsa.PrivateKey {
	tb.Helper()
	priv := testKey(tb, name).(*rsa.PrivateKey)
	priv.Precompute()
	return priv
}

// TestRSAPreparedMatchesStdlib feeds the prepared path (with the assembly
// where the CPU runs it, and with the portable Go arithmetic) and
// rsa.VerifyPKCS1v15 the same keys, hashes and signatures: valid ones,
// encodings broken in every field, and signatures out of range or of the
// wrong length. All must agree on every one, and valid ones must verify.
func TestRSAPreparedMatchesStdlib(t *testing.T) {
	t.Parallel()
	type edit struct {
		name string
		fn   func(em []byte, hl int) []byte // nil result: use sig as given
	}
	set := func(i int, v byte) func([]byte, int) []byte {
		return func(em []byte, _ int) []byte { em[i] = v; return em }
	}
	fromEnd := func(i int, v byte) func([]byte, int) []byte {
		return func(em []byte, _ int) []byte { em[len(em)-i] ^= v; return em }
	}
	edits := []edit{
		{"valid", func(em []byte, _ int) []byte { return em }},
		{"first byte 1", set(0, 1)},
		{"block type 0", set(1, 0)},
		{"block type 2", set(1, 2)},
		{"padding byte fe", set(2, 0xfe)},
		{"padding byte 0 early", set(10, 0)},
		{"last hash byte", fromEnd(1, 1)},
		{"first hash byte", func(em []byte, hl int) []byte { em[len(em)-hl] ^= 0x80; return em }},
		{"prefix last byte", func(em []byte, hl int) []byte { em[len(em)-hl-1] ^= 1; return em }},
		{"prefix first byte", func(em []byte, hl int) []byte { em[len(em)-hl-19] ^= 1; return em }},
		{"separator 1", func(em []byte, hl int) []byte { em[len(em)-hl-20] = 1; return em }},
		{"separator ff", func(em []byte, hl int) []byte { em[len(em)-hl-20] = 0xff; return em }},
		{"padding one shorter", func(em []byte, _ int) []byte { copy(em[2:], em[3:]); em[len(em)-1] = 0; return em }},
		{"padding one longer", func(em []byte, _ int) []byte { copy(em[3:], em[2:]); em[2] = 0xff; return em }},
		{"no padding", func(em []byte, hl int) []byte {
			t := em[len(em)-hl-19:]
			out := make([]byte, len(em))
			out[1] = 1
			copy(out[3:], t)
			return out
		}},
		{"another hash's prefix", func(em []byte, hl int) []byte {
			p := em[len(em)-hl-19 : len(em)-hl]
			if p[14] == 1 {
				p[14] = 3
			} else {
				p[14] = 1
			}
			return em
		}},
	}
	type sigCase struct {
		name string
		sig  func(priv *rsa.PrivateKey) []byte
	}
	k := func(priv *rsa.PrivateKey, v *big.Int) []byte {
		b := make([]byte, priv.Size())
		if v.BitLen() <= 8*len(b) {
			v.FillBytes(b)
		}
		return b
	}
	sigs := []sigCase{
		{"zero", func(p *rsa.PrivateKey) []byte { return make([]byte, p.Size()) }},
		{"one", func(p *rsa.PrivateKey) []byte { return k(p, big.NewInt(1)) }},
		{"N-1", func(p *rsa.PrivateKey) []byte { return k(p, new(big.Int).Sub(p.N, big.NewInt(1))) }},
		{"N", func(p *rsa.PrivateKey) []byte { return k(p, new(big.Int).Set(p.N)) }},
		{"N+1", func(p *rsa.PrivateKey) []byte { return k(p, new(big.Int).Add(p.N, big.NewInt(1))) }},
		{"all ff", func(p *rsa.PrivateKey) []byte {
			b := make([]byte, p.Size())
			for i := range b {
				b[i] = 0xff
			}
			return b
		}},
		{"one byte short", func(p *rsa.PrivateKey) []byte { return make([]byte, p.Size()-1) }},
		{"one byte long", func(p *rsa.PrivateKey) []byte { return make([]byte, p.Size()+1) }},
		{"empty", func(*rsa.PrivateKey) []byte { return nil }},
	}
	hashes := []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512}
	for _, name := range []string{"rsa2048.pem", "rsa3072-e3.pem", "rsa4096.pem"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			priv := rsaTestKey(t, name)
			pub := &priv.PublicKey
			p := prepareRSA(pub)
			if !p.matches(pub) {
				t.Fatal("key not prepared")
			}
			goPath := *p
			goPath.m = newMontModulus(pub.N)
			goPath.m.adx = false
			check := func(t *testing.T, hash crypto.Hash, hashed, sig []byte, wantValid bool) {
				t.Helper()
				want := rsa.VerifyPKCS1v15(pub, hash, hashed, sig)
				if got := p.verifyPKCS1v15(hash, hashed, sig); (got == nil) != (want == nil) {
					t.Fatalf("prepared: %v, crypto/rsa: %v", got, want)
				}
				if got := goPath.verifyPKCS1v15(hash, hashed, sig); (got == nil) != (want == nil) {
					t.Fatalf("prepared, portable Go: %v, crypto/rsa: %v", got, want)
				}
				if (want == nil) != wantValid {
					t.Fatalf("crypto/rsa: %v, want valid %v", want, wantValid)
				}
			}
			for _, hash := range hashes {
				h := hash.New()
				h.Write([]byte("keyward " + name))
				hashed := h.Sum(nil)
				for _, e := range edits {
					t.Run(hash.String()+"/"+e.name, func(t *testing.T) {
						em := e.fn(pkcs1Encoding(hash, hashed, priv.Size()), len(hashed))
						check(t, hash, hashed, rawSign(t, priv, em), e.name == "valid")
					})
				}
				for _, s := range sigs {
					t.Run(hash.String()+"/"+s.name, func(t *testing.T) {
						check(t, hash, hashed, s.sig(priv), false)
					})
				}
				t.Run(hash.String()+"/hash of another length", func(t *testing.T) {
					sig := rawSign(t, priv, pkcs1Encoding(hash, hashed, priv.Size()))
					check(t, hash, hashed[:len(hashed)-1], sig, false)
				})
			}
		})
	}
}

// TestRSAPreparedFollowsKey checks that a JWK verifies with the key it holds
// now: one built as a literal, or whose key was replaced or changed after
// NewJWK, falls back to crypto/rsa and never uses a stale modulus.
func TestRSAPreparedFollowsKey(t *testing.T) {
	t.Parallel()
	a := rsaTestKey(t, "rsa2048.pem")
	b := rsaTestKey(t, "rsa4096.pem")
	hashed := make([]byte, 32)
	sigA := rawSign(t, a, pkcs1Encoding(crypto.SHA256, hashed, a.Size()))
	sigB := rawSign(t, b, pkcs1Encoding(crypto.SHA256, hashed, b.Size()))

	ways := rsaJWKsEveryWay(t, a, &a.PublicKey)
	jwk := ways["NewJWK"]
	if jwk.rsa == nil {
		t.Fatal("NewJWK did not prepare the key")
	}
	if err := verifySignature(jwk, RS256, nil, sigA); err == nil {
		t.Fatal("a signature over another message verified")
	}
	privJWK, pubOfPriv, parsed, set := ways["private"], ways["public of private"], ways["ParseJWK"], ways["ParseJWKS"]
	tests := []struct {
		name     string
		jwk      *JWK
		sig      []byte
		prepared bool
	}{
		{"prepared", jwk, sigA, true},
		{"literal", &JWK{Key: &a.PublicKey}, sigA, false},
		{"private key", privJWK, sigA, true},
		{"public half of a private JWK", pubOfPriv, sigA, true},
		{"parsed JWK", parsed, sigA, true},
		{"parsed JWK Set", set, sigA, true},
		{"key replaced", func() *JWK { k := *jwk; k.Key = &b.PublicKey; return &k }(), sigB, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub, _ := publicOf(tt.jwk.Key)
			d := make([]byte, 32)
			var err error
			prepared := tt.jwk.rsa.matches(pub.(*rsa.PublicKey))
			if prepared != tt.prepared {
				t.Fatalf("prepared path %v, want %v", prepared, tt.prepared)
			}
			if prepared {
				err = tt.jwk.rsa.verifyPKCS1v15(crypto.SHA256, d, tt.sig)
			} else {
				err = rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), crypto.SHA256, d, tt.sig)
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
	// A modulus changed in place is noticed too.
	pub := &rsa.PublicKey{N: new(big.Int).Set(a.N), E: a.E}
	p := prepareRSA(pub)
	pub.N.Set(b.N)
	if p.matches(pub) {
		t.Fatal("a changed modulus still matches")
	}
	for _, tt := range []struct {
		name string
		n    *big.Int
	}{
		{"negated", new(big.Int).Neg(a.N)},
		{"a limb longer", new(big.Int).SetBit(new(big.Int).Set(a.N), a.N.BitLen()+64, 1)},
		{"a top bit more", new(big.Int).SetBit(new(big.Int).Set(a.N), a.N.BitLen(), 1)},
		{"a low bit less", new(big.Int).Sub(a.N, big.NewInt(2))},
	} {
		pub.N.Set(tt.n)
		if p.matches(pub) {
			t.Fatalf("a modulus %s still matches", tt.name)
		}
	}
	pub.N.Set(a.N)
	if !p.matches(pub) {
		t.Fatal("the modulus set back does not match")
	}
	pub.E = 3
	if p.matches(pub) {
		t.Fatal("a changed exponent still matches")
	}
}

// TestPrepareRSARefuses checks that keys crypto/rsa would refuse are not
// prepared, so that they reach crypto/rsa and its error.
func TestPrepareRSARefuses(t *testing.T) {
	t.Parallel()
	a := rsaTestKey(t, "rsa2048.pem")
	small := testKey(t, "rsa1024.pem").(*rsa.PrivateKey)
	tests := []struct {
		name string
		key  any
	}{
		{"nil modulus", &rsa.PublicKey{E: 65537}},
		{"even modulus", &rsa.PublicKey{N: new(big.Int).Add(a.N, big.NewInt(1)), E: 65537}},
		{"1024 bits", &small.PublicKey},
		{"exponent 1", &rsa.PublicKey{N: a.N, E: 1}},
		{"even exponent", &rsa.PublicKey{N: a.N, E: 65536}},
		{"exponent over 2^31", &rsa.PublicKey{N: a.N, E: 1 << 31}},
		{"not RSA", testSecret()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if p := prepareRSA(tt.key); p != nil {
				t.Fatal("prepared")
			}
		})
	}
	if prepareRSA(a) == nil || prepareRSA(&a.PublicKey) == nil {
		t.Fatal("a valid key was not prepared")
	}
}

// FuzzRSAPKCS1v15 holds the prepared RSA path, with the assembly (where the
// CPU runs it) and with the portable Go arithmetic, to crypto/rsa. With sign
// set, data is XORed into a valid encoding at offset, which is then signed,
// so the fuzzer explores encodings close to valid ones; without it, data is
// the signature itself. All paths must accept and refuse the same inputs.
func FuzzRSAPKCS1v15(f *testing.F) {
	priv := rsaTestKey(f, "rsa2048.pem")
	pub := &priv.PublicKey
	p := prepareRSA(pub)
	goPath := *p
	goPath.m = newMontModulus(pub.N)
	goPath.m.adx = false
	hashes := []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512}
	f.Fuzz(func(t *testing.T, hashSel uint8, offset uint16, data []byte, sign bool) {
		hash := hashes[int(hashSel)%len(hashes)]
		h := hash.New()
		h.Write([]byte{hashSel})
		hashed := h.Sum(nil)
		sig := data
		if sign {
			em := pkcs1Encoding(hash, hashed, priv.Size())
			for i, b := range data {
				em[(int(offset)+i)%len(em)] ^= b
			}
			if new(big.Int).SetBytes(em).Cmp(priv.N) >= 0 {
				return
			}
			sig = rawSign(t, priv, em)
		}
		want := rsa.VerifyPKCS1v15(pub, hash, hashed, sig)
		if got := p.verifyPKCS1v15(hash, hashed, sig); (got == nil) != (want == nil) {
			t.Fatalf("prepared: %v, crypto/rsa: %v", got, want)
		}
		if got := goPath.verifyPKCS1v15(hash, hashed, sig); (got == nil) != (want == nil) {
			t.Fatalf("prepared, portable Go: %v, crypto/rsa: %v", got, want)
		}
	})
}
