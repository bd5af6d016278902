package issuer

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/jose"
)

// ClientAssertionType is the client_assertion_type of private_key_jwt
// client authentication (RFC 7523 §2.2).
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// MaxAssertionLifetime bounds exp - now of a client assertion: a short
// life keeps the replay guard's memory small.
const MaxAssertionLifetime = 5 * time.Minute

// assertionAlgs are the algorithms a client may sign an assertion with:
// asymmetric only, so the issuer holds nothing that could forge one.
var assertionAlgs = []jose.Algorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}

// AssertionAlgorithms returns the names of the algorithms accepted in
// client assertions, for discovery metadata.
func AssertionAlgorithms() []string {
	out := make([]string, len(assertionAlgs))
	for n, a := range assertionAlgs {
		out[n] = string(a)
	}
	return out
}

// assertionType reports whether typ, the typ header of a client assertion,
// is one a client assertion may carry: none, "JWT" (RFC 7519 §5.1) or
// "client-authentication+jwt" (the explicit type of the RFC 7523 update),
// compared case-insensitively with any "application/" prefix removed
// (RFC 7515 §4.1.9). Any other explicit type names another kind of JWT,
// such as an access token (at+jwt) or a DPoP proof, which must never pass
// for an assertion even when the client's key signed it.
func assertionType(typ string) bool {
	if len(typ) > 12 && strings.EqualFold(typ[:12], "application/") {
		typ = typ[12:]
	}
	return typ == "" || strings.EqualFold(typ, "JWT") || strings.EqualFold(typ, "client-authentication+jwt")
}

// ClientKeysFunc returns the public keys a client publishes at its JWKS
// URL, among them those of key ID kid when the client publishes any (kid
// is the unverified kid header of the assertion, empty when it has none).
// Implementations should cache the set and fetch it again on an unknown
// kid at most once per cooldown, as a Set of package jwks does.
type ClientKeysFunc func(ctx context.Context, url, kid string) (jose.KeySet, error)

// AuthenticateClientAssertion authenticates a client with private_key_jwt
// (RFC 7523 §3): a JWT signed by the client's own key, found in the
// client's registered JWKS or fetched from its JWKS URL, with iss and sub
// the client_id, aud one of audiences (the endpoint's URL or the issuer),
// exp set and at most [MaxAssertionLifetime] ahead, and a jti never seen
// before. Its typ header is absent, "JWT" or "client-authentication+jwt";
// any other type is refused. clientID, when not empty, must name the same
// client. Every
// failure is [CodeInvalidClient] with the same description; the reason is
// in the audit log.
func (i *Issuer) AuthenticateClientAssertion(ctx context.Context, clientID, assertion string, audiences []string) (keyward.Client, error) {
	now := i.cfg.Now()
	fail := func(id, reason string, cause error) (keyward.Client, error) {
		i.audit(ctx, slog.LevelWarn, "client_auth_failed", slog.String("client_id", truncate(id)),
			slog.String("method", "private_key_jwt"), slog.String("reason", reason))
		return keyward.Client{}, oauthError(CodeInvalidClient, "client authentication failed", cause)
	}
	jws, err := jose.Parse(assertion)
	if err != nil {
		return fail(clientID, "malformed assertion", err)
	}
	if !assertionType(jws.Header.Type) {
		return fail(clientID, "typ is not JWT or client-authentication+jwt", nil)
	}
	unverified, err := jose.ParseClaims(jws.UnsafePayload())
	if err != nil {
		return fail(clientID, "malformed assertion claims", err)
	}
	id := unverified.Issuer
	if id == "" || len(id) > 256 || (clientID != "" && clientID != id) {
		return fail(clientID, "iss is not the client_id", nil)
	}
	c, err := i.cfg.Store.GetClient(ctx, id)
	switch {
	case errors.Is(err, keyward.ErrNotFound):
		return fail(id, "unknown client", nil)
	case err != nil:
		return keyward.Client{}, internal(err)
	}
	var keys jose.KeySet
	switch {
	case len(c.JWKS) > 0:
		keys, err = jose.ParseJWKS(c.JWKS)
		if err != nil {
			return fail(id, "the registered JWKS cannot be read", err)
		}
	case c.JWKSURL != "" && i.cfg.ClientKeys != nil:
		keys, err = i.cfg.ClientKeys(ctx, c.JWKSURL, jws.Header.KeyID)
		if err != nil {
			return fail(id, "the client's JWKS URL cannot be fetched", err)
		}
	default:
		return fail(id, "the client has no registered keys", nil)
	}
	algs, err := jose.NewAlgorithmSet(assertionAlgs...)
	if err != nil {
		return keyward.Client{}, internal(err)
	}
	tok, err := jose.VerifyJWT(assertion, keys, algs, &jose.Policy{
		Issuers: []string{id}, Audiences: audiences, Required: []string{"sub", "jti", "exp"}, Now: i.cfg.Now,
	})
	if err != nil {
		return fail(id, err.Error(), err)
	}
	if tok.Claims.Subject != id {
		return fail(id, "sub is not the client_id", nil)
	}
	exp := tok.Claims.Expiry.Time()
	if exp.Sub(now) > MaxAssertionLifetime {
		return fail(id, "exp too far ahead", nil)
	}
	if len(tok.Claims.ID) > 256 {
		return fail(id, "jti too long", nil)
	}
	err = i.cfg.Store.UseJTI(ctx, id, tok.Claims.ID, exp)
	switch {
	case errors.Is(err, keyward.ErrConflict):
		return fail(id, "jti replayed", nil)
	case err != nil:
		return keyward.Client{}, internal(err)
	}
	return c, nil
}
