-- The RS256 keys kept for OpenID Connect ID tokens beside keys of another
-- algorithm, and the ID-token algorithm a client registers.
ALTER TABLE signing_keys ADD COLUMN purpose TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN id_token_signed_response_alg TEXT NOT NULL DEFAULT '';
