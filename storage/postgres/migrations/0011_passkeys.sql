-- Passkeys (WebAuthn credentials), found by their credential ID, which is
-- unique across users, and listed per user.
CREATE TABLE passkeys (
	id                 bytea       PRIMARY KEY,
	user_id            text        NOT NULL,
	name               text        NOT NULL,
	public_key         bytea       NOT NULL,
	attestation_format text        NOT NULL,
	aaguid             bytea,
	sign_count         bigint      NOT NULL,
	transports         jsonb       NOT NULL,
	user_verified      boolean     NOT NULL,
	backup_eligible    boolean     NOT NULL,
	backup_state       boolean     NOT NULL,
	created_at         timestamptz NOT NULL,
	last_used_at       timestamptz
);
CREATE INDEX passkeys_user ON passkeys (user_id, created_at);

-- The WebAuthn ceremonies under way, found by the hash of the cookie that
-- names each one and deleted by their first response or when they expire.
CREATE TABLE passkey_ceremonies (
	hash       bytea       PRIMARY KEY,
	kind       text        NOT NULL CHECK (kind IN ('register', 'login')),
	user_id    text        NOT NULL,
	session_id text        NOT NULL,
	data       bytea       NOT NULL,
	expires_at timestamptz NOT NULL
);
CREATE INDEX passkey_ceremonies_user ON passkey_ceremonies (user_id);
CREATE INDEX passkey_ceremonies_expires ON passkey_ceremonies (expires_at);
