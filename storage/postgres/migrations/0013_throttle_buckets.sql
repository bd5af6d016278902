-- The login throttle's token buckets, shared by every replica: one row per
-- bucket, named by a keyed hash (never a raw username or address), holding
-- its theoretical arrival time (GCRA) in microseconds since the epoch, the
-- time at which it is full again. A row whose time has passed is a full
-- bucket, as is no row; the sweep deletes such rows.
CREATE TABLE throttle_buckets (
	key text   PRIMARY KEY,
	tat bigint NOT NULL
);
CREATE INDEX throttle_buckets_tat ON throttle_buckets (tat);
