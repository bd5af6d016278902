package dpop

import (
	"maps"

	"github.com/keyward/keyward/jose"
)

// BoundJKT returns the thumbprint a token's claims bind it to
// ([jose.Claims.ConfirmationJKT]): the "jkt"
// member of its "cnf" claim (RFC 9449 §6.1, RFC 7800). It returns "" for a
// token that is not bound by DPoP: no "cnf", or a "cnf" without "jkt" (a
// confirmation method of another kind, which this package does not check).
// A "cnf" that is not an object, or a "jkt" that is not a non-empty string,
// is an error wrapping [jose.ErrMalformed]: the token is bound to something
// no one can prove, and must be refused.
func BoundJKT(c *jose.Claims) (string, error) { return c.ConfirmationJKT() }

// Bind sets the "cnf.jkt" of claims to jkt, a key's RFC 7638 thumbprint
// ([Proof].JKT), keeping any other member of an existing "cnf" object: the
// token it is signed into is then usable only with a proof by that key.
func Bind(c *jose.Claims, jkt string) {
	cnf := map[string]any{}
	if old, ok := c.Extra["cnf"].(map[string]any); ok {
		cnf = maps.Clone(old)
	}
	cnf["jkt"] = jkt
	if c.Extra == nil {
		c.Extra = map[string]any{}
	}
	c.Extra["cnf"] = cnf
}
