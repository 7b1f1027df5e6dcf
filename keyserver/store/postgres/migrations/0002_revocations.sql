-- The revocation feed (spec/keyserver.md §5.9): each revoked device keeps
-- the index of the log leaf that recorded its revocation (the feed's
-- cursor) and when it happened. Devices revoked before this migration have
-- neither and are not in the feed: their tokens still expire within the
-- token lifetime.
ALTER TABLE devices ADD COLUMN revoked_index bigint, ADD COLUMN revoked_at timestamptz;
CREATE INDEX devices_revoked_index ON devices (revoked_index) WHERE revoked_index IS NOT NULL;
