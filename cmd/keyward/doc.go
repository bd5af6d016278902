// Command keyward generates keys, signs, verifies and inspects JWTs, builds
// JWK sets, and runs the keyward issuer and verifying gate.
//
// Every flag also reads KEYWARD_<FLAG> from the environment (--access-ttl
// from KEYWARD_ACCESS_TTL); a flag given on the command line wins. Exit
// codes: 0 success, 1 a failed verification or operation, 2 bad usage.
//
// # Layout
//
// This is the only package, with its helpers internal/cli and
// internal/config, that reads flags, the environment and files, and the only
// one that wires the others together (storage backends, issuer, server,
// gate, verifier, metrics) and runs their servers and background loops in
// one group. Nothing imports it; it keeps only flags and wiring,
// and the rules it wires live in the packages it imports.
//
// # Logging
//
// One [log/slog.Logger] is built here (--log-format, --log-level) and handed
// to every package that logs through its Config; jose, jwks and verifier
// never log, they return errors and report to observers. Every log line
// follows one convention:
//
//   - The message is an event name in snake_case, stable across releases
//     (key_set_loaded, login_failed, token_issued, request_failed), never a
//     sentence; details go in attributes with snake_case keys (client_id,
//     kid, status).
//   - An error goes in the attribute named error (slog.String("error",
//     err.Error()) or slog.Any("error", err)), never err.
//   - Code that has a request's context logs with the …Context methods
//     (InfoContext, WarnContext, ErrorContext, DebugContext), and every line
//     about a request carries its request_id, so that one ID follows a
//     request through the gate, the service and the issuer.
//   - A secret is never logged, nor put in an error or a metric label: no
//     password, token (access, refresh, authorization code), client secret,
//     session cookie, master key or private key. Types that hold one
//     implement [log/slog.LogValuer] and redact themselves.
//
// docs/operations.md lists the events operators see.
package main
