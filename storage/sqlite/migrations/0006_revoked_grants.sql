-- Revoked sessions and refresh-token families, published in the revocation
-- feed: an access token whose sid (kind 'session') or fid (kind 'family')
-- is listed is refused. A row is kept until every access token it refuses
-- has expired (expires_at).
CREATE TABLE revoked_grants (
	kind       TEXT    NOT NULL CHECK (kind IN ('session', 'family')),
	id         TEXT    NOT NULL,
	revoked_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	PRIMARY KEY (kind, id)
) STRICT;
CREATE INDEX revoked_grants_expires ON revoked_grants (expires_at);
