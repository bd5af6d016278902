-- Second factors and the methods a session was authenticated with. A user
-- may be required to use a second factor; a session records its
-- authentication methods (RFC 8176 amr, a JSON array), the context class
-- it meets (acr), when it was last used and a short label of its browser;
-- an authorization code carries the session's amr and acr to the ID token.
-- Rows written by a previous release still running beside this one take
-- the defaults: no requirement, no methods recorded.
ALTER TABLE users ADD COLUMN require_mfa INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT '[]';
ALTER TABLE sessions ADD COLUMN acr TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN last_used_at INTEGER;
ALTER TABLE sessions ADD COLUMN device TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_codes ADD COLUMN amr TEXT NOT NULL DEFAULT '[]';
ALTER TABLE auth_codes ADD COLUMN acr TEXT NOT NULL DEFAULT '';

-- A user's TOTP credential (RFC 6238), its secret sealed by the issuer;
-- last_step is the time step of the last accepted code, which a code must
-- exceed to be accepted (each code works once).
CREATE TABLE totp_credentials (
	user_id      TEXT PRIMARY KEY,
	secret       BLOB NOT NULL,
	created_at   INTEGER NOT NULL,
	confirmed_at INTEGER,
	last_step    INTEGER NOT NULL
) STRICT;

-- A user's single-use recovery codes, stored as SHA-256 hashes.
CREATE TABLE recovery_codes (
	user_id    TEXT NOT NULL,
	hash       BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	used_at    INTEGER,
	PRIMARY KEY (user_id, hash)
) STRICT;
