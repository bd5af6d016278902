//go:build !keyward_nobigmod && !purego

package jose

import "golang.org/x/sys/cpu"

// hasADX reports whether the CPU runs the assembly: MULX (BMI2), ADCX and
// ADOX (ADX).
func hasADX() bool { return cpu.X86.HasADX && cpu.X86.HasBMI2 }

// addMul sets z += x·y over len(x) limbs (z at least as long) and returns
// the carry limb.
func (m *montModulus) addMul(z, x []uint64, y uint64) uint64 {
	if m.adx {
		_ = z[len(x)-1]
		return addMulVVWadx(&z[0], &x[0], len(x), y)
	}
	return addMulVVWGo(z, x, y)
}

// triangle is triangleGo, in assembly when m.adx is set.
func (m *montModulus) triangle(T, a []uint64) {
	if m.adx {
		_ = T[2*len(a)-1]
		sqrTriangleADX(&T[0], &a[0], len(a))
		return
	}
	triangleGo(T, a)
}

// reduceRows is reduceRowsGo, in assembly when m.adx is set.
func (m *montModulus) reduceRows(T []uint64) uint64 {
	if m.adx {
		_ = T[2*len(m.n)-1]
		return montReduceADX(&T[0], &m.n[0], len(m.n), m.m0inv)
	}
	return reduceRowsGo(T, m.n, m.m0inv)
}

// addMulVVWadx is addMulVVWGo over the n limbs at z and x; n >= 1.
//
//go:noescape
func addMulVVWadx(z, x *uint64, n int, y uint64) (c uint64)

// sqrTriangleADX is triangleGo on the n limbs of a and the 2n limbs of t;
// n >= 2.
//
//go:noescape
func sqrTriangleADX(t, a *uint64, n int)

// montReduceADX is reduceRowsGo on the 2n limbs of t and the n limbs of m.
//
//go:noescape
func montReduceADX(t, m *uint64, n int, m0inv uint64) (c uint64)
