-- Envelope ids per mailbox (spec/relay.md §8.1): an id counts the
-- envelopes of its own mailbox only, so the ids a device sees say nothing
-- about other mailboxes' traffic (the relay-wide AUTOINCREMENT of 0001 did).
-- mailboxes.last_id is the highest id the mailbox has ever given; the next
-- envelope gets last_id + 1. It is never lowered, so ids are never reused.
ALTER TABLE mailboxes ADD COLUMN last_id INTEGER NOT NULL DEFAULT 0;

-- Every existing mailbox continues above every id the relay-wide sequence
-- ever gave (including ones already deleted): an id a client learnt before
-- this migration, and acks after it, never names a newer envelope.
UPDATE mailboxes SET last_id = max(
	coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'envelopes'), 0),
	coalesce((SELECT max(id) FROM envelopes), 0));

-- Envelopes keyed by (addr, id); the rowid is internal (Sweep, Ack) and
-- never leaves the store. Queued envelopes keep their ids, so they stay
-- deliverable in the same order and acks of them still work. The copy
-- costs time and disk in proportion to the queued bytes, once.
CREATE TABLE envelopes_v2 (
	addr    BLOB    NOT NULL REFERENCES mailboxes (addr),
	id      INTEGER NOT NULL, -- per mailbox, from mailboxes.last_id
	data    BLOB    NOT NULL,
	arrived INTEGER NOT NULL, -- unix milliseconds
	expiry  INTEGER NOT NULL  -- unix milliseconds; live while now < expiry
) STRICT;
INSERT INTO envelopes_v2 (rowid, addr, id, data, arrived, expiry)
	SELECT id, addr, id, data, arrived, expiry FROM envelopes;
DROP TABLE envelopes;
ALTER TABLE envelopes_v2 RENAME TO envelopes;
CREATE UNIQUE INDEX envelopes_addr_id ON envelopes (addr, id);
CREATE INDEX envelopes_expiry ON envelopes (expiry);
