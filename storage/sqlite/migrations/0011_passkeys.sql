-- Passkeys (WebAuthn credentials), found by their credential ID, which is
-- unique across users, and listed per user. transports is a JSON array.
CREATE TABLE passkeys (
	id                 BLOB    PRIMARY KEY,
	user_id            TEXT    NOT NULL,
	name               TEXT    NOT NULL,
	public_key         BLOB    NOT NULL,
	attestation_format TEXT    NOT NULL,
	aaguid             BLOB,
	sign_count         INTEGER NOT NULL,
	transports         TEXT    NOT NULL,
	user_verified      INTEGER NOT NULL,
	backup_eligible    INTEGER NOT NULL,
	backup_state       INTEGER NOT NULL,
	created_at         INTEGER NOT NULL,
	last_used_at       INTEGER
) STRICT;
CREATE INDEX passkeys_user ON passkeys (user_id, created_at);

-- The WebAuthn ceremonies under way, found by the hash of the cookie that
-- names each one and deleted by their first response or when they expire.
CREATE TABLE passkey_ceremonies (
	hash       BLOB    PRIMARY KEY,
	kind       TEXT    NOT NULL CHECK (kind IN ('register', 'login')),
	user_id    TEXT    NOT NULL,
	session_id TEXT    NOT NULL,
	data       BLOB    NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX passkey_ceremonies_user ON passkey_ceremonies (user_id);
CREATE INDEX passkey_ceremonies_expires ON passkey_ceremonies (expires_at);
