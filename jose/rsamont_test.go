//go:build !keyward_nobigmod

package jose

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"testing"
)

// montPaths returns the arithmetic paths to check for N: the assembly
// (where this CPU runs it) and the portable Go, forced.
func montPaths(tb testing.TB, N *big.Int) map[string]*montModulus {
	tb.Helper()
	paths := map[string]*montModulus{}
	g := newMontModulus(N)
	if g == nil {
		tb.Fatalf("modulus of %d bits not prepared", N.BitLen())
	}
	g.adx = false
	paths["go"] = g
	if hasADX() {
		a := newMontModulus(N)
		a.adx = true
		paths["adx"] = a
	}
	return paths
}

// checkExp compares m.expVarTime(s, e) with math/big: the same bytes for
// s < N, a refusal for s ≥ N or a signature of another length.
func checkExp(t *testing.T, m *montModulus, N *big.Int, sig []byte, e uint) {
	t.Helper()
	got := make([]byte, m.size)
	ok := m.expVarTime(got, sig, e)
	s := new(big.Int).SetBytes(sig)
	if len(sig) != (N.BitLen()+7)/8 || s.Cmp(N) >= 0 {
		if ok {
			t.Fatalf("N %x, e %d: accepted the signature %x", N, e, sig)
		}
		return
	}
	want := new(big.Int).Exp(s, new(big.Int).SetUint64(uint64(e)), N).FillBytes(make([]byte, len(sig)))
	if !ok || !bytes.Equal(got, want) {
		t.Fatalf("N %x, e %d, s %x:\n got %x (ok %v)\nwant %x", N, e, sig, got, ok, want)
	}
}

// edgeModuli returns odd moduli of bits bits that stress the arithmetic:
// top limb 1 (when bits is one past a multiple of 64), top limb all ones
// (when bits is a multiple of 64), all bits set, 2^(bits-1)+1, limbs
// alternating all ones and zero, and random ones.
func edgeModuli(rng *mrand.Rand, bits int) []*big.Int {
	one := big.NewInt(1)
	pow := func(k int) *big.Int { return new(big.Int).Lsh(one, uint(k)) }
	allOnes := new(big.Int).Sub(pow(bits), one)
	alternate := new(big.Int)
	for i := 0; i < bits; i += 128 {
		for j := i; j < i+64 && j < bits; j++ {
			alternate.SetBit(alternate, j, 1)
		}
	}
	alternate.SetBit(alternate, bits-1, 1).SetBit(alternate, 0, 1)
	ms := []*big.Int{
		allOnes,
		new(big.Int).Add(pow(bits-1), one),
		new(big.Int).Sub(allOnes, big.NewInt(2)),
		alternate,
	}
	for range 3 {
		r := randomBits(rng, bits)
		r.SetBit(r, bits-1, 1).SetBit(r, 0, 1)
		ms = append(ms, r)
	}
	return ms
}

// randomBits returns a random number below 2^bits.
func randomBits(rng *mrand.Rand, bits int) *big.Int {
	b := make([]byte, (bits+7)/8)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	x := new(big.Int).SetBytes(b)
	return x.Rsh(x, uint(8*len(b)-bits))
}

// edgeSignatures returns, as k-byte strings, 0, 1, 2, N-2, N-1, N, N+1, all
// ones (above N), R-1 mod N's neighbours made of all-ones limbs below N,
// limbs alternating all ones and zero, and random values below N.
func edgeSignatures(rng *mrand.Rand, N *big.Int) [][]byte {
	k := (N.BitLen() + 7) / 8
	fill := func(x *big.Int) []byte {
		if x.Sign() < 0 || x.BitLen() > 8*k {
			return nil
		}
		return x.FillBytes(make([]byte, k))
	}
	one := big.NewInt(1)
	var out [][]byte
	for _, v := range []*big.Int{
		big.NewInt(0), big.NewInt(1), big.NewInt(2),
		new(big.Int).Sub(N, big.NewInt(2)), new(big.Int).Sub(N, one), new(big.Int).Set(N), new(big.Int).Add(N, one),
		new(big.Int).Sub(new(big.Int).Lsh(one, uint(8*k)), one),
		new(big.Int).Sub(new(big.Int).Lsh(one, uint(64*((N.BitLen()-1)/64))), one), // every limb below the top all ones
		new(big.Int).Rsh(N, 1),
	} {
		if b := fill(v); b != nil {
			out = append(out, b)
		}
	}
	alt := new(big.Int)
	for i := 0; i < N.BitLen()-1; i++ {
		if i/64%2 == 0 {
			alt.SetBit(alt, i, 1)
		}
	}
	out = append(out, fill(alt))
	for range 4 {
		out = append(out, fill(new(big.Int).Mod(randomBits(rng, N.BitLen()), N)))
	}
	return append(out, make([]byte, k-1), make([]byte, k+1))
}

// montExponents are the public exponents checked: the small ones keys use,
// the largest crypto/rsa accepts, and random odd ones.
func montExponents(rng *mrand.Rand) []uint {
	es := []uint{3, 5, 17, 65537, 1<<31 - 1}
	for range 2 {
		es = append(es, uint(rng.Uint32N(1<<30))*2+3)
	}
	return es
}

// TestMontExpMatchesBig holds the RSA public operation on the prepared
// modulus, in the assembly and in the portable Go, to math/big's Exp on
// moduli of every supported size class (2048 to 8192 bits, multiples of 64
// and not, top limb 1 and all ones, all bits set) with edge signatures (0,
// 1, N-1, N, N+1, all-ones limbs, carry-rippling patterns) and exponents.
func TestMontExpMatchesBig(t *testing.T) {
	t.Parallel()
	sizes := []int{MinRSABits, MinRSABits + 1, MinRSABits + 7, 2048 + 63, 2112, 2304 + 32, 3072, 3072 + 1, 4096, 4096 + 64 + 1, 6144 - 8, MaxRSABits - 1, MaxRSABits}
	if testing.Short() {
		sizes = []int{MinRSABits, MinRSABits + 1, 3072, 4096, MaxRSABits}
	}
	for _, bits := range sizes {
		t.Run(fmt.Sprint(bits), func(t *testing.T) {
			t.Parallel()
			rng := mrand.New(mrand.NewPCG(uint64(bits), 1))
			es := montExponents(rng)
			for mi, N := range edgeModuli(rng, bits) {
				sigs := edgeSignatures(rng, N)
				for name, m := range montPaths(t, N) {
					t.Run(fmt.Sprintf("modulus%d/%s", mi, name), func(t *testing.T) {
						for i, sig := range sigs {
							for j, e := range es {
								// Every exponent on a few signatures, e = 65537 and
								// 3 on all of them, to bound the time at 8192 bits.
								if i < 3 || j < 4 {
									checkExp(t, m, N, sig, e)
								}
							}
						}
					})
				}
			}
		})
	}
}

// multiPrimeKey returns an RSA key of exactly bits bits, a product of
// random 256-bit primes and a last one sized to reach bits, so that it is
// fast to make, with d = e⁻¹ mod λ(N): enough to sign any encoding for the
// public operation, which sees only N and e.
func multiPrimeKey(tb testing.TB, rng *mrand.Rand, bits, e int) (pub *rsa.PublicKey, d *big.Int) {
	tb.Helper()
	one := big.NewInt(1)
	bigE := big.NewInt(int64(e))
	N, lambda := big.NewInt(1), big.NewInt(1)
	add := func(p *big.Int) bool {
		pm1 := new(big.Int).Sub(p, one)
		if new(big.Int).GCD(nil, nil, pm1, bigE).Cmp(one) != 0 || new(big.Int).GCD(nil, nil, p, N).Cmp(one) != 0 {
			return false
		}
		N.Mul(N, p)
		g := new(big.Int).GCD(nil, nil, lambda, pm1)
		lambda.Mul(lambda, pm1).Div(lambda, g)
		return true
	}
	for N.BitLen() < bits-400 {
		p, err := rand.Prime(rand.Reader, 256)
		if err != nil {
			tb.Fatal(err)
		}
		add(p)
	}
	// The last prime p: 2^(bits-1) ≤ N·p < 2^bits.
	lo := new(big.Int).Lsh(one, uint(bits-1))
	lo.Add(lo, N).Sub(lo, one).Div(lo, N)
	hi := new(big.Int).Lsh(one, uint(bits))
	hi.Div(hi, N)
	for {
		p := new(big.Int).Add(lo, randomBits(rng, new(big.Int).Sub(hi, lo).BitLen()-1))
		p.SetBit(p, 0, 1)
		for ; p.Cmp(hi) < 0; p.Add(p, big.NewInt(2)) {
			if p.ProbablyPrime(20) {
				break
			}
		}
		if p.Cmp(hi) < 0 && add(p) {
			break
		}
	}
	if N.BitLen() != bits {
		tb.Fatalf("made a %d-bit key, want %d", N.BitLen(), bits)
	}
	return &rsa.PublicKey{N: N, E: e}, new(big.Int).ModInverse(bigE, lambda)
}

// TestRSAPreparedRandomKeys holds verifyPKCS1v15, on both arithmetic paths,
// to rsa.VerifyPKCS1v15 on random keys of random sizes from MinRSABits to
// MaxRSABits and several exponents: valid signatures of random hashes must
// verify, and a signature with one bit flipped, or over an encoding with one
// byte changed, must be refused by both.
func TestRSAPreparedRandomKeys(t *testing.T) {
	t.Parallel()
	keys := 10
	if testing.Short() {
		keys = 4
	}
	rng := mrand.New(mrand.NewPCG(2, 3))
	exps := []int{3, 65537, 17, 1<<31 - 1}
	for i := range keys {
		bits := MinRSABits + int(rng.Uint32N(uint32(MaxRSABits-MinRSABits+1)))
		if i < 4 {
			bits = []int{MinRSABits, 3072, 4096, MaxRSABits}[i]
		}
		e := exps[i%len(exps)]
		t.Run(fmt.Sprintf("%d-bits-e%d", bits, e), func(t *testing.T) {
			t.Parallel()
			rng := mrand.New(mrand.NewPCG(uint64(bits), uint64(e)))
			pub, d := multiPrimeKey(t, rng, bits, e)
			p := prepareRSA(pub)
			if !p.matches(pub) {
				t.Fatal("key not prepared")
			}
			goPath := *p
			goPath.m = montPaths(t, pub.N)["go"]
			sign := func(em []byte) []byte {
				return new(big.Int).Exp(new(big.Int).SetBytes(em), d, pub.N).FillBytes(make([]byte, len(em)))
			}
			for j := range 2 {
				hash := []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512}[j%3]
				hashed := make([]byte, hash.Size())
				for b := range hashed {
					hashed[b] = byte(rng.Uint32())
				}
				em := pkcs1Encoding(hash, hashed, p.m.size)
				bad := bytes.Clone(em)
				bad[1+rng.IntN(len(bad)-1)] ^= byte(1 + rng.IntN(255))
				flipped := sign(em)
				flipped[rng.IntN(len(flipped))] ^= 1 << rng.IntN(8)
				for _, c := range []struct {
					name  string
					sig   []byte
					valid bool
				}{
					{"valid", sign(em), true},
					{"encoding changed", sign(bad), false},
					{"signature bit flipped", flipped, false},
				} {
					want := rsa.VerifyPKCS1v15(pub, hash, hashed, c.sig)
					if (want == nil) != c.valid {
						t.Fatalf("%s: crypto/rsa: %v", c.name, want)
					}
					for name, q := range map[string]*rsaPublic{"default": p, "go": &goPath} {
						if got := q.verifyPKCS1v15(hash, hashed, c.sig); (got == nil) != (want == nil) {
							t.Fatalf("%s, %s path: %v, crypto/rsa: %v", c.name, name, got, want)
						}
					}
				}
			}
		})
	}
}

// TestNewMontModulus checks the per-key constants: m0inv·N ≡ -1 mod 2^64
// and rr = R² mod N, and that even or one-limb moduli are refused.
func TestNewMontModulus(t *testing.T) {
	t.Parallel()
	rng := mrand.New(mrand.NewPCG(5, 8))
	for _, bits := range []int{65, 128, MinRSABits, 3000, MaxRSABits} {
		for _, N := range edgeModuli(rng, bits) {
			m := newMontModulus(N)
			if m == nil {
				t.Fatalf("%d bits: not prepared", bits)
			}
			if m.n[0]*m.m0inv != ^uint64(0) {
				t.Errorf("%d bits: m0inv·N = %x mod 2^64, want -1", bits, m.n[0]*m.m0inv)
			}
			n := len(m.n)
			rr := new(big.Int).Lsh(big.NewInt(1), uint(128*n))
			rr.Mod(rr, N)
			if got := natFromBig(rr, n); !equalLimbs(got, m.rr) {
				t.Errorf("%d bits: rr wrong", bits)
			}
			if m.size != (bits+7)/8 {
				t.Errorf("%d bits: size %d", bits, m.size)
			}
		}
	}
	for _, N := range []*big.Int{big.NewInt(0), big.NewInt(-7), big.NewInt(1<<62 + 1), new(big.Int).Lsh(big.NewInt(1), 2048)} {
		if newMontModulus(N) != nil {
			t.Errorf("%x prepared", N)
		}
	}
}

func equalLimbs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzMontExp holds both arithmetic paths to math/big on any odd modulus of
// two limbs or more (the bytes of mod, top bit and bottom bit set), any
// signature and any odd exponent from 3.
func FuzzMontExp(f *testing.F) {
	ones := bytes.Repeat([]byte{0xff}, 256)
	f.Add(ones, ones[:255], uint32(65537))
	f.Add(ones, make([]byte, 256), uint32(3))
	f.Add(append([]byte{1}, make([]byte, 256)...), bytes.Repeat([]byte{0xff}, 256), uint32(65537))
	f.Add(bytes.Repeat([]byte{0x80, 0, 0, 0, 0, 0, 0, 1}, 32), bytes.Repeat([]byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 32), uint32(1<<31-1))
	f.Add(bytes.Repeat([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0}, 16), []byte{2}, uint32(17))
	f.Add([]byte{0xc5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17}, []byte{0x12, 0x34}, uint32(5))
	f.Fuzz(func(t *testing.T, mod, sig []byte, e uint32) {
		if len(mod) > MaxRSABits/8 || len(mod) < 9 {
			return
		}
		N := new(big.Int).SetBytes(mod)
		N.SetBit(N, 8*len(mod)-1, 1).SetBit(N, 0, 1)
		e = e&(1<<31-1) | 1
		if e < 3 {
			e = 3
		}
		// Pad or cut sig to N's length so most inputs reach the arithmetic.
		k := len(mod)
		if len(sig) < k {
			sig = append(make([]byte, k-len(sig)), sig...)
		}
		sig = sig[len(sig)-k:]
		for _, m := range montPaths(t, N) {
			checkExp(t, m, N, sig, uint(e))
		}
	})
}

// BenchmarkRSAPublic measures s^65537 mod N for a 2048-bit N on the
// prepared modulus: the assembly where the CPU runs it, and the portable Go.
func BenchmarkRSAPublic(b *testing.B) {
	priv := rsaTestKey(b, "rsa2048.pem")
	h := sha256.Sum256([]byte("keyward"))
	sig, err := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, h[:])
	if err != nil {
		b.Fatal(err)
	}
	em := make([]byte, len(sig))
	for name, m := range montPaths(b, priv.N) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !m.expVarTime(em, sig, uint(priv.E)) {
					b.Fatal("refused")
				}
			}
		})
	}
}
