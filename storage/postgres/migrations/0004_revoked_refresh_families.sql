-- A revoked refresh-token family is remembered, so that a token created in
-- it afterwards is refused: an authorization code redeemed twice at once
-- has its family revoked by the second redemption, possibly before the
-- first has stored the family's first token. A record is kept for a day
-- (keyward.RevokedFamilyRetention), far longer than any issuance takes.
CREATE TABLE revoked_refresh_families (
	family_id  text PRIMARY KEY,
	revoked_at timestamptz NOT NULL
);
CREATE INDEX revoked_refresh_families_revoked ON revoked_refresh_families (revoked_at);
