-- Times are INTEGER microseconds since the Unix epoch; NULL means "not set".
-- Lists and maps are JSON text.

CREATE TABLE users (
	id            TEXT PRIMARY KEY,
	username      TEXT NOT NULL UNIQUE,
	password_hash TEXT NOT NULL,
	roles         TEXT NOT NULL,
	attributes    TEXT NOT NULL,
	disabled      INTEGER NOT NULL,
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE clients (
	id            TEXT PRIMARY KEY,
	name          TEXT NOT NULL,
	secret_hash   TEXT NOT NULL,
	public        INTEGER NOT NULL,
	redirect_uris TEXT NOT NULL,
	grant_types   TEXT NOT NULL,
	scopes        TEXT NOT NULL,
	audience      TEXT NOT NULL,
	jwks_url      TEXT NOT NULL,
	jwks          BLOB,
	created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE signing_keys (
	id          TEXT PRIMARY KEY,
	algorithm   TEXT NOT NULL,
	state       TEXT NOT NULL,
	private_key BLOB,
	public_jwk  BLOB,
	created_at  INTEGER NOT NULL,
	activate_at INTEGER,
	retire_at   INTEGER,
	remove_at   INTEGER
) STRICT;

CREATE TABLE refresh_tokens (
	hash       BLOB PRIMARY KEY,
	family_id  TEXT NOT NULL,
	user_id    TEXT NOT NULL,
	client_id  TEXT NOT NULL,
	scope      TEXT NOT NULL,
	audience   TEXT NOT NULL,
	session_id TEXT NOT NULL,
	issued_at  INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	used_at    INTEGER,
	revoked_at INTEGER
) STRICT;
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_client ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

CREATE TABLE auth_codes (
	hash                  BLOB PRIMARY KEY,
	client_id             TEXT NOT NULL,
	user_id               TEXT NOT NULL,
	redirect_uri          TEXT NOT NULL,
	scope                 TEXT NOT NULL,
	nonce                 TEXT NOT NULL,
	code_challenge        TEXT NOT NULL,
	code_challenge_method TEXT NOT NULL,
	session_id            TEXT NOT NULL,
	auth_time             INTEGER NOT NULL,
	expires_at            INTEGER NOT NULL,
	used_at               INTEGER
) STRICT;
CREATE INDEX auth_codes_user ON auth_codes (user_id);
CREATE INDEX auth_codes_client ON auth_codes (client_id);
CREATE INDEX auth_codes_expires ON auth_codes (expires_at);

CREATE TABLE sessions (
	id         TEXT PRIMARY KEY,
	user_id    TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	revoked_at INTEGER
) STRICT;
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE revoked_tokens (
	jti        TEXT PRIMARY KEY,
	expires_at INTEGER NOT NULL,
	revoked_at INTEGER NOT NULL
) STRICT;
CREATE INDEX revoked_tokens_expires ON revoked_tokens (expires_at);

CREATE TABLE user_revocations (
	user_id TEXT PRIMARY KEY,
	before  INTEGER NOT NULL
) STRICT;

CREATE TABLE used_jtis (
	issuer     TEXT NOT NULL,
	jti        TEXT NOT NULL,
	expires_at INTEGER NOT NULL,
	PRIMARY KEY (issuer, jti)
) STRICT;
CREATE INDEX used_jtis_expires ON used_jtis (expires_at);
