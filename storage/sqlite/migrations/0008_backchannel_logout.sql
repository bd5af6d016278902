-- OpenID Connect Back-Channel Logout 1.0: where a client receives logout
-- tokens, and whether they must carry a sid; clients registered before
-- receive none.
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN backchannel_logout_session_required INTEGER NOT NULL DEFAULT 0;

-- The clients issued tokens in each session, notified when it ends; a row
-- goes with its session.
CREATE TABLE session_clients (
	session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
	client_id  TEXT NOT NULL,
	PRIMARY KEY (session_id, client_id)
) STRICT;

-- The outbox of logouts waiting to be delivered; the issuer signs a logout
-- token for each attempt, so no token is stored. next_attempt_at is pushed
-- ahead when a deliverer claims a row, so that two never hold it at once.
CREATE TABLE backchannel_logouts (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	client_id       TEXT NOT NULL,
	user_id         TEXT NOT NULL,
	session_id      TEXT NOT NULL,
	created_at      INTEGER NOT NULL,
	attempts        INTEGER NOT NULL,
	next_attempt_at INTEGER NOT NULL
) STRICT;
CREATE INDEX backchannel_logouts_due ON backchannel_logouts (next_attempt_at, id);
