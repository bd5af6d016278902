-- DPoP (RFC 9449): a client may be required to send a proof with every
-- token request (dpop_bound_access_tokens); a public client's refresh-token
-- family and an authorization code requested with dpop_jkt are bound to the
-- thumbprint of a key ('' when not bound).
ALTER TABLE clients ADD COLUMN require_dpop boolean NOT NULL DEFAULT false;
ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt text NOT NULL DEFAULT '';
ALTER TABLE auth_codes ADD COLUMN dpop_jkt text NOT NULL DEFAULT '';
