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

-- The revocation log: every change to what the feed publishes, numbered in
-- commit order (the one-row revocation_log is updated first in each
-- writing transaction), so that verifiers fetch the changes since the last
-- one they saw. floor is the highest seq deleted while a verifier may
-- still hold its entry (a swept user cutoff): a verifier behind it reads
-- the full state again.
CREATE TABLE revocation_log (
	one   INTEGER PRIMARY KEY CHECK (one = 1),
	head  INTEGER NOT NULL,
	floor INTEGER NOT NULL
) STRICT;
INSERT INTO revocation_log (one, head, floor) VALUES (1, 0, 0);
CREATE TABLE revocation_changes (
	seq  INTEGER PRIMARY KEY,
	kind TEXT    NOT NULL CHECK (kind IN ('token', 'session', 'family', 'user')),
	key  TEXT    NOT NULL,
	at   INTEGER NOT NULL
) STRICT;
CREATE INDEX revocation_changes_at ON revocation_changes (kind, at);
