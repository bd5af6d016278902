-- The subject ("sub") of a revoked access token: its user, or the client of
-- a client_credentials token ('' when unknown), so that a subject's revoked
-- tokens are counted (past a bound the issuer publishes a cutoff for the
-- subject instead) and those revoked before the subject's cutoff, which
-- refuses them too, are left out of the feed. A user's changes in the
-- revocation log are found by key: a new cutoff supersedes the earlier ones.
ALTER TABLE revoked_tokens ADD COLUMN subject text NOT NULL DEFAULT '';
CREATE INDEX revoked_tokens_subject ON revoked_tokens (subject, expires_at);
CREATE INDEX revocation_changes_key ON revocation_changes (kind, key);
