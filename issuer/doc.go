// Package issuer is the core of keyward's authorization server: first-party
// login with argon2id passwords and throttling, access-token minting per
// RFC 9068, refresh-token rotation with reuse detection (RFC 9700 §4.14.2),
// the client_credentials grant, revocation (RFC 7009) and the [KeyManager]
// that drives the signing keys through their life (pending → active →
// retired → removed) and keeps the published JWK Set.
//
// The package knows the [keyward.Store] interfaces and the jose package; it
// knows neither HTTP nor SQL. Failures a client may see are [*Error] values
// carrying an RFC 6749 §5.2 error code; the HTTP layer picks the status. A
// store failure is a server_error that wraps the store's error, so that a
// store that cannot reach its database stays [keyward.ErrUnavailable] to
// [errors.Is] and is answered as such.
// Audit lines (login_succeeded, login_failed, token_issued,
// refresh_reuse_detected, key_rotated) go to the [log/slog.Logger] handed in
// and never carry a password, a token, a client secret or key material.
//
// It must never import server, cmd, gate, verifier, a storage backend or a
// SQL driver: it sees storage through the [keyward.Store] interfaces only,
// and HTTP belongs to server.
package issuer
