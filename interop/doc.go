// Package interop holds keyward's interoperability tests: tokens keyward
// issues are verified by the libraries other services use (lestrrat-go/jwx,
// coreos/go-oidc, express-jwt with jwks-rsa, panva/jose), and tokens those
// libraries sign are verified by keyward. The tests drive freshly built
// keyward binaries and the Node project in node/; every pairing of issuer,
// verifier and algorithm appears by name in the verbose test output.
//
// The package has no non-test code.
package interop
