-- The revocation feed (spec/keyserver.md §5.9): each revoked device keeps
-- the index of the log leaf that recorded its revocation (the feed's
-- cursor) and when it happened (Unix nanoseconds). Devices revoked before
-- this migration have neither and are not in the feed: their tokens still
-- expire within the token lifetime.
ALTER TABLE devices ADD COLUMN revoked_index INTEGER;
ALTER TABLE devices ADD COLUMN revoked_at INTEGER;
CREATE INDEX devices_revoked_index ON devices (revoked_index) WHERE revoked_index IS NOT NULL;
