-- A session keeps its ID for its whole life while the cookie that names it
-- is replaced at every login in it: the store finds a session by the hash of
-- its cookie, and keeps the time of its last login (OIDC auth_time). The
-- sessions opened before were named by the hash of their cookie, hex-encoded,
-- so that hash is their cookie hash and their creation their last login.
-- Both columns stay nullable, so that a replica of the previous release still
-- running during a rollout can open sessions (found only by that release, and
-- read here with their creation as their last login).
ALTER TABLE sessions ADD COLUMN cookie_hash bytea, ADD COLUMN auth_time timestamptz;
UPDATE sessions SET
	cookie_hash = CASE WHEN id ~ '^([0-9a-fA-F]{2})+$' THEN decode(id, 'hex') ELSE convert_to(id, 'UTF8') END,
	auth_time = created_at;
CREATE UNIQUE INDEX sessions_cookie ON sessions (cookie_hash);
