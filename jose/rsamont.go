//go:build !keyward_nobigmod

package jose

import (
	"encoding/binary"
	"math/big"
	"math/bits"
)

// montModulus is an odd RSA modulus N of n 64-bit limbs prepared once for
// Montgomery arithmetic modulo N with R = 2^(64n): its limbs, least
// significant first, m0inv = -N⁻¹ mod 2^64 and rr = R² mod N.
//
// Everything here runs in variable time: it computes the RSA public-key
// operation, whose inputs (the key, the signature, the exponent) are all
// public. It must never see a private value.
type montModulus struct {
	n     []uint64 // N, little-endian limbs
	rr    []uint64 // R² mod N
	m0inv uint64   // -N⁻¹ mod 2^64
	size  int      // N's length in bytes
	adx   bool     // use the MULX/ADCX/ADOX assembly (amd64 with ADX and BMI2)
}

// newMontModulus prepares N, which must be odd and at least 2 limbs long, or
// returns nil.
func newMontModulus(N *big.Int) *montModulus {
	if N.Sign() <= 0 || N.Bit(0) == 0 || N.BitLen() <= 64 {
		return nil
	}
	n := (N.BitLen() + 63) / 64
	m := &montModulus{n: natFromBig(N, n), size: (N.BitLen() + 7) / 8, adx: hasADX()}
	// Newton's iteration for N⁻¹ mod 2^64: each step doubles the bits that
	// are right, and N·N ≡ 1 mod 8 starts with three.
	inv := m.n[0]
	for range 5 {
		inv *= 2 - m.n[0]*inv
	}
	m.m0inv = -inv
	r2 := new(big.Int).Lsh(big.NewInt(1), uint(128*n))
	m.rr = natFromBig(r2.Mod(r2, N), n)
	return m
}

// is reports whether x is N, by N's limbs: x's words are 64 or 32 bits.
func (m *montModulus) is(x *big.Int) bool {
	const per = 64 / bits.UintSize // x's words per limb, 1 or 2
	w := x.Bits()
	if x.Sign() <= 0 || (len(w)+per-1)/per != len(m.n) {
		return false
	}
	for i, v := range w {
		if big.Word(m.n[i/per]>>(bits.UintSize*(i%per))) != v {
			return false
		}
	}
	// With 32-bit words, an odd count leaves the top limb's upper half.
	return len(w)%per == 0 || m.n[len(m.n)-1]>>32 == 0
}

// natFromBig returns x's n least significant 64-bit limbs.
func natFromBig(x *big.Int, n int) []uint64 {
	b := make([]byte, 8*n)
	x.FillBytes(b)
	return natFromBytes(make([]uint64, n), b)
}

// natFromBytes reads the big-endian b, 8·len(z) bytes long, into z.
func natFromBytes(z []uint64, b []byte) []uint64 {
	for i := range z {
		j := len(b) - 8*i
		z[i] = binary.BigEndian.Uint64(b[j-8 : j])
	}
	return z
}

// expVarTime sets em, m.size bytes long, to s^e mod N, with s the
// big-endian sig, and reports whether sig was m.size bytes long and below N
// (RFC 8017 §5.2.2 step 1, as crypto/rsa checks it); em is not written when
// it was not. e must be odd and at least 3.
//
// The chain needs no conversion out of the Montgomery domain: with
// mont(a, b) = a·b·R⁻¹ mod N, it starts from sR = mont(s, R²), squares and
// multiplies by sR along e's bits as usual, and ends with one multiplication
// by s itself instead of sR, which cancels the last R: for e = 65537 that is
// 16 squarings and 2 multiplications.
func (m *montModulus) expVarTime(em, sig []byte, e uint) bool {
	n := len(m.n)
	if len(sig) != m.size || len(em) != m.size {
		return false
	}
	// s, sR, x (n limbs each) and T (2n limbs), on the stack up to 4096 bits.
	var stack [5 * 64]uint64
	buf := stack[:]
	if 5*n > len(buf) {
		buf = make([]uint64, 5*n)
	}
	s, sR, x, T := buf[:n], buf[n:2*n], buf[2*n:3*n], buf[3*n:5*n]
	top := len(sig) - 8*(n-1) // bytes in the top limb, 1 to 8
	natFromBytes(s[:n-1], sig[top:])
	var w [8]byte
	copy(w[8-top:], sig[:top])
	s[n-1] = binary.BigEndian.Uint64(w[:])
	if !less(s, m.n) {
		return false
	}
	m.mul(sR, s, m.rr, T)
	copy(x, sR)
	for i := bits.Len(e) - 2; i >= 1; i-- {
		m.sqr(x, x, T)
		if e>>uint(i)&1 != 0 {
			m.mul(x, x, sR, T)
		}
	}
	m.sqr(x, x, T)
	m.mul(x, x, s, T)
	for i, w := range x[:n-1] {
		j := len(em) - 8*i
		binary.BigEndian.PutUint64(em[j-8:j], w)
	}
	binary.BigEndian.PutUint64(w[:], x[n-1])
	copy(em[:top], w[8-top:])
	return true
}

// less reports whether a < b; both have the same length.
func less(a, b []uint64) bool {
	for i := len(a) - 1; i >= 0; i-- {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// addMulVVWGo is the portable addMul, four limbs per iteration.
func addMulVVWGo(z, x []uint64, y uint64) (c uint64) {
	z = z[:len(x)]
	i := 0
	for ; i+4 <= len(x); i += 4 {
		x4, z4 := x[i:i+4:i+4], z[i:i+4:i+4]
		h0, l0 := bits.Mul64(x4[0], y)
		h1, l1 := bits.Mul64(x4[1], y)
		h2, l2 := bits.Mul64(x4[2], y)
		h3, l3 := bits.Mul64(x4[3], y)
		var k uint64
		// The high halves chain into the next limb's low half.
		l0, k = bits.Add64(l0, c, 0)
		l1, k = bits.Add64(l1, h0, k)
		l2, k = bits.Add64(l2, h1, k)
		l3, k = bits.Add64(l3, h2, k)
		h3 += k
		// Then z, in a second chain.
		z4[0], k = bits.Add64(z4[0], l0, 0)
		z4[1], k = bits.Add64(z4[1], l1, k)
		z4[2], k = bits.Add64(z4[2], l2, k)
		z4[3], k = bits.Add64(z4[3], l3, k)
		c = h3 + k
	}
	for ; i < len(x); i++ {
		hi, lo := bits.Mul64(x[i], y)
		var cc uint64
		lo, cc = bits.Add64(lo, z[i], 0)
		hi += cc
		lo, cc = bits.Add64(lo, c, 0)
		hi += cc
		z[i] = lo
		c = hi
	}
	return c
}

// mul sets z = a·b·R⁻¹ mod N, with a, b < N; z may alias a or b. T is
// scratch space of 2n limbs.
func (m *montModulus) mul(z, a, b, T []uint64) {
	n := len(m.n)
	clear(T)
	for i, bi := range b[:n] {
		T[n+i] = m.addMul(T[i:n+i], a[:n], bi)
	}
	m.reduce(z, T)
}

// sqr sets z = a²·R⁻¹ mod N, with a < N; z may alias a. T is scratch space
// of 2n limbs. The products a[i]·a[j] with i < j are computed once, the
// sum doubled, and the squares a[i]² added: about half the products of
// mul(z, a, a), followed by the same reduction (3/4 of its multiplications
// in all).
func (m *montModulus) sqr(z, a, T []uint64) {
	n := len(m.n)
	a = a[:n]
	T = T[:2*n]
	// Row i adds a[i+1:]·a[i] at T[2i+1:i+n] and writes its carry to
	// T[i+n], which no earlier row reached.
	clear(T[:n])
	m.triangle(T, a)
	T[2*n-1] = 0
	// T = 2·T + Σ a[i]²·2^(128i).
	var top, c uint64
	for i, ai := range a {
		hi, lo := bits.Mul64(ai, ai)
		t0, t1 := T[2*i], T[2*i+1]
		d0 := t0<<1 | top
		d1 := t1<<1 | t0>>63
		top = t1 >> 63
		d0, c = bits.Add64(d0, lo, c)
		d1, c = bits.Add64(d1, hi, c)
		T[2*i], T[2*i+1] = d0, d1
	}
	m.reduce(z, T)
}

// reduce sets z = T·R⁻¹ mod N for T < N·R (2n limbs, which it overwrites).
func (m *montModulus) reduce(z, T []uint64) {
	n := len(m.n)
	c := m.reduceRows(T)
	// T[n:] + c·R < 2N: subtract N once if it is not below N.
	r := T[n : 2*n]
	if c != 0 || !less(r, m.n) {
		var b uint64
		for i := range r {
			r[i], b = bits.Sub64(r[i], m.n[i], b)
		}
	}
	copy(z, r)
}

// triangleGo is the portable triangle: for i in [0, n-1), it adds
// a[i+1:]·a[i] to T[2i+1:i+n] and writes the carry to T[i+n], which no
// earlier row reached. T[:n] must be zero.
func triangleGo(T, a []uint64) {
	n := len(a)
	for i := 0; i < n-1; i++ {
		T[i+n] = addMulVVWGo(T[2*i+1:i+n], a[i+1:], a[i])
	}
}

// reduceRowsGo is the portable reduceRows: n times, it adds the multiple of
// N that clears the lowest remaining limb of T (2n limbs), and returns the
// carry out of T's top limb.
func reduceRowsGo(T, N []uint64, m0inv uint64) uint64 {
	n := len(N)
	var c uint64
	for i := 0; i < n; i++ {
		d := addMulVVWGo(T[i:i+n], N, T[i]*m0inv)
		t, c1 := bits.Add64(T[i+n], d, 0)
		t, c2 := bits.Add64(t, c, 0)
		T[i+n] = t
		c = c1 + c2
	}
	return c
}
