-- The URIs a client may have the browser sent to after an RP-initiated
-- logout (OpenID Connect RP-Initiated Logout 1.0), a JSON list like
-- redirect_uris; clients registered before have none.
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris jsonb NOT NULL DEFAULT '[]'::jsonb;
