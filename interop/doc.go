// Package interop holds keyward's interoperability tests: tokens keyward
// issues are verified by the libraries other services use (lestrrat-go/jwx,
// coreos/go-oidc, express-jwt with jwks-rsa, panva/jose), and tokens those
// libraries sign are verified by keyward. The tests drive freshly built
// keyward binaries and the Node project in node/; every pairing of issuer,
// verifier and algorithm appears by name in the verbose test output.
//
// The interop directory is a module of its own (interop/go.mod, with the
// main module replaced by the checkout around it): it alone requires the
// libraries these tests run against — go-jose, golang-jwt, jwx, go-oidc,
// golang.org/x/oauth2 and chromedp — so that the main module's go.mod lists
// only what the product links. Its packages jose and server hold the
// differential tests and benchmarks of package jose and the client-library
// and browser tests of package server. .ci/test runs its tests after the
// main module's.
//
// The package has no non-test code.
package interop
