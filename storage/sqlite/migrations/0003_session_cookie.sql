-- A session keeps its ID for its whole life while the cookie that names it
-- is replaced at every login in it: the store finds a session by the hash of
-- its cookie, and keeps the time of its last login (OIDC auth_time). The
-- sessions opened before were named by the hash of their cookie, hex-encoded,
-- so that hash is their cookie hash and their creation their last login.
-- Both columns stay nullable, so that a previous release still running
-- beside this one can open sessions (found only by that release, and read
-- here with their creation as their last login) until the rollout ends.
ALTER TABLE sessions ADD COLUMN cookie_hash BLOB;
ALTER TABLE sessions ADD COLUMN auth_time INTEGER;
UPDATE sessions SET cookie_hash = coalesce(unhex(id), CAST(id AS BLOB)), auth_time = created_at;
CREATE UNIQUE INDEX sessions_cookie ON sessions (cookie_hash);
