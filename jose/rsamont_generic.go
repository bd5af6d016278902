//go:build !keyward_nobigmod && (!amd64 || purego)

package jose

// hasADX reports false: the assembly exists for amd64 only, and the purego
// build tag leaves it out there too.
func hasADX() bool { return false }

// addMul sets z += x·y over len(x) limbs (z at least as long) and returns
// the carry limb.
func (m *montModulus) addMul(z, x []uint64, y uint64) uint64 { return addMulVVWGo(z, x, y) }

// triangle is triangleGo.
func (m *montModulus) triangle(T, a []uint64) { triangleGo(T, a) }

// reduceRows is reduceRowsGo.
func (m *montModulus) reduceRows(T []uint64) uint64 { return reduceRowsGo(T, m.n, m.m0inv) }
