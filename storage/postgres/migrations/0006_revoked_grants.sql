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

-- The revocation log: every change to what the feed publishes, numbered in
-- commit order (the one-row revocation_log is updated first in each
-- writing transaction, so writers wait for each other's commit), so that
-- verifiers fetch the changes since the last one they saw. floor is the
-- highest seq deleted while a verifier may still hold its entry (a swept
-- user cutoff): a verifier behind it reads the full state again.
CREATE TABLE revocation_log (
	one   integer PRIMARY KEY CHECK (one = 1),
	head  bigint  NOT NULL,
	floor bigint  NOT NULL
);
INSERT INTO revocation_log (one, head, floor) VALUES (1, 0, 0);
CREATE TABLE revocation_changes (
	seq  bigint      PRIMARY KEY,
	kind text        NOT NULL CHECK (kind IN ('token', 'session', 'family', 'user')),
	key  text        NOT NULL,
	at   timestamptz NOT NULL
);
CREATE INDEX revocation_changes_at ON revocation_changes (kind, at);
