-- Second factors and the methods a session was authenticated with. A user
-- may be required to use a second factor; a session records its
-- authentication methods (RFC 8176 amr, a JSON array), the context class
-- it meets (acr), when it was last used and a short label of its browser;
-- an authorization code carries the session's amr and acr to the ID token.
-- Rows written by a replica of the previous release still running during a
-- rollout take the defaults: no requirement, no methods recorded.
ALTER TABLE users ADD COLUMN require_mfa boolean NOT NULL DEFAULT false;
ALTER TABLE sessions
	ADD COLUMN amr jsonb NOT NULL DEFAULT '[]',
	ADD COLUMN acr text NOT NULL DEFAULT '',
	ADD COLUMN last_used_at timestamptz,
	ADD COLUMN device text NOT NULL DEFAULT '';
ALTER TABLE auth_codes
	ADD COLUMN amr jsonb NOT NULL DEFAULT '[]',
	ADD COLUMN acr text NOT NULL DEFAULT '';

-- A user's TOTP credential (RFC 6238), its secret sealed by the issuer;
-- last_step is the time step of the last accepted code, which a code must
-- exceed to be accepted (each code works once).
CREATE TABLE totp_credentials (
	user_id      text PRIMARY KEY,
	secret       bytea NOT NULL,
	created_at   timestamptz NOT NULL,
	confirmed_at timestamptz,
	last_step    bigint NOT NULL
);

-- A user's single-use recovery codes, stored as SHA-256 hashes.
CREATE TABLE recovery_codes (
	user_id    text NOT NULL,
	hash       bytea NOT NULL,
	created_at timestamptz NOT NULL,
	used_at    timestamptz,
	PRIMARY KEY (user_id, hash)
);
