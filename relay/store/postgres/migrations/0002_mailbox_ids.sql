-- Envelope ids per mailbox (spec/relay.md §8.1): an id counts the
-- envelopes of its own mailbox only, so the ids a device sees say nothing
-- about other mailboxes' traffic (the relay-wide bigserial of 0001 did).
-- relay_mailboxes.last_id is the highest id the mailbox has ever given; a
-- Send, holding the mailbox row locked, gives the next envelope
-- last_id + 1 and writes it back. It is never lowered, so ids are never
-- reused, and ids commit in order within a mailbox.
ALTER TABLE relay_mailboxes ADD COLUMN last_id bigint NOT NULL DEFAULT 0;

-- Every existing mailbox continues above every id the relay-wide sequence
-- ever gave (including ones already deleted): an id a client learnt before
-- this migration, and acks after it, never names a newer envelope.
UPDATE relay_mailboxes SET last_id = greatest(
	coalesce((SELECT last_value FROM pg_sequences
		WHERE schemaname = current_schema() AND sequencename = 'relay_envelopes_id_seq'), 0),
	coalesce((SELECT max(id) FROM relay_envelopes), 0));

-- Queued envelopes keep their ids (unique, so unique within each mailbox):
-- they stay deliverable in the same order and acks of them still work.
ALTER TABLE relay_envelopes ALTER COLUMN id DROP DEFAULT;
DROP SEQUENCE relay_envelopes_id_seq;
ALTER TABLE relay_envelopes DROP CONSTRAINT relay_envelopes_pkey;
DROP INDEX relay_envelopes_address_id;
ALTER TABLE relay_envelopes ADD PRIMARY KEY (address, id);
