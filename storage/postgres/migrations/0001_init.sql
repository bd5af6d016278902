-- Names that the store orders by use the "C" collation, so that the order is
-- byte order whatever the database's locale.

CREATE TABLE users (
	id            text PRIMARY KEY,
	username      text COLLATE "C" NOT NULL UNIQUE,
	password_hash text NOT NULL,
	roles         jsonb NOT NULL,
	attributes    jsonb NOT NULL,
	disabled      boolean NOT NULL,
	created_at    timestamptz NOT NULL,
	updated_at    timestamptz NOT NULL
);

CREATE TABLE clients (
	id            text COLLATE "C" PRIMARY KEY,
	name          text NOT NULL,
	secret_hash   text NOT NULL,
	public        boolean NOT NULL,
	redirect_uris jsonb NOT NULL,
	grant_types   jsonb NOT NULL,
	scopes        jsonb NOT NULL,
	audience      text NOT NULL,
	jwks_url      text NOT NULL,
	jwks          bytea,
	created_at    timestamptz NOT NULL
);

CREATE TABLE signing_keys (
	id          text COLLATE "C" PRIMARY KEY,
	algorithm   text NOT NULL,
	state       text NOT NULL CHECK (state IN ('pending', 'active', 'retired')),
	private_key bytea,
	public_jwk  bytea,
	created_at  timestamptz NOT NULL,
	activate_at timestamptz,
	retire_at   timestamptz,
	remove_at   timestamptz
);

CREATE TABLE refresh_tokens (
	hash       bytea PRIMARY KEY,
	family_id  text NOT NULL,
	user_id    text NOT NULL,
	client_id  text NOT NULL,
	scope      text NOT NULL,
	audience   jsonb NOT NULL,
	session_id text NOT NULL,
	issued_at  timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	used_at    timestamptz,
	revoked_at timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_client ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

CREATE TABLE auth_codes (
	hash                  bytea PRIMARY KEY,
	client_id             text NOT NULL,
	user_id               text NOT NULL,
	redirect_uri          text NOT NULL,
	scope                 text NOT NULL,
	nonce                 text NOT NULL,
	code_challenge        text NOT NULL,
	code_challenge_method text NOT NULL,
	session_id            text NOT NULL,
	auth_time             timestamptz NOT NULL,
	expires_at            timestamptz NOT NULL,
	used_at               timestamptz
);
CREATE INDEX auth_codes_user ON auth_codes (user_id);
CREATE INDEX auth_codes_client ON auth_codes (client_id);
CREATE INDEX auth_codes_expires ON auth_codes (expires_at);

CREATE TABLE sessions (
	id         text PRIMARY KEY,
	user_id    text NOT NULL,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	revoked_at timestamptz
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE revoked_tokens (
	jti        text COLLATE "C" PRIMARY KEY,
	expires_at timestamptz NOT NULL,
	revoked_at timestamptz NOT NULL
);
CREATE INDEX revoked_tokens_expires ON revoked_tokens (expires_at);

CREATE TABLE user_revocations (
	user_id text COLLATE "C" PRIMARY KEY,
	before  timestamptz NOT NULL
);

CREATE TABLE used_jtis (
	issuer     text NOT NULL,
	jti        text NOT NULL,
	expires_at timestamptz NOT NULL,
	PRIMARY KEY (issuer, jti)
);
CREATE INDEX used_jtis_expires ON used_jtis (expires_at);
