-- OpenID Connect Back-Channel Logout 1.0: where a client receives logout
-- tokens, and whether they must carry a sid; clients registered before
-- receive none.
ALTER TABLE clients ADD COLUMN backchannel_logout_uri text NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN backchannel_logout_session_required boolean NOT NULL DEFAULT false;

-- The clients issued tokens in each session, notified when it ends; a row
-- goes with its session.
CREATE TABLE session_clients (
	session_id text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
	client_id  text NOT NULL,
	PRIMARY KEY (session_id, client_id)
);

-- The outbox of logouts waiting to be delivered; the issuer signs a logout
-- token for each attempt, so no token is stored. next_attempt_at is pushed
-- ahead when a deliverer claims a row, so that two never hold it at once.
CREATE TABLE backchannel_logouts (
	id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	client_id       text        NOT NULL,
	user_id         text        NOT NULL,
	session_id      text        NOT NULL,
	created_at      timestamptz NOT NULL,
	attempts        integer     NOT NULL,
	next_attempt_at timestamptz NOT NULL
);
CREATE INDEX backchannel_logouts_due ON backchannel_logouts (next_attempt_at, id);
