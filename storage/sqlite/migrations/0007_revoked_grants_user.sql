-- The user a revoked session or refresh-token family belongs to ('' when
-- none), so that a user's revoked grants are counted (past a bound the
-- issuer publishes a user cutoff instead) and those older than the user's
-- cutoff, which refuses their tokens too, are left out of the feed.
ALTER TABLE revoked_grants ADD COLUMN user_id TEXT NOT NULL DEFAULT '';
CREATE INDEX revoked_grants_user ON revoked_grants (user_id, revoked_at);
