-- Revoked sessions and refresh-token families, published in the revocation
-- feed: an access token whose sid (kind 'session') or fid (kind 'family')
-- is listed is refused. A row is kept until every access token it refuses
-- has expired (expires_at).
CREATE TABLE revoked_grants (
	kind       text        NOT NULL CHECK (kind IN ('session', 'family')),
	id         text        NOT NULL,
	revoked_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	PRIMARY KEY (kind, id)
);
CREATE INDEX revoked_grants_expires ON revoked_grants (expires_at);
