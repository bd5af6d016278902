// Package jose holds the differential tests and benchmarks of package
// github.com/keyward/keyward/jose against the Go JOSE libraries services use
// (go-jose v4, golang-jwt v5): tokens signed by each verify in the others,
// key sets written by each read in the others, and BenchmarkVerifyRatio
// measures what each costs next to the standard library's raw check. The
// libraries are required by this test module only, never by the main
// module.
//
// The package has no non-test code.
package jose
