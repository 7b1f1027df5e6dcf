-- Shared bodies (spec/relay.md §16): the body of a shared send, stored
-- once and referenced from each recipient mailbox's envelope row. There is
-- no count of references to keep: every recipient's ack of one group
-- message would update the same row, and queue behind its lock. A body is
-- deleted once no envelope row references it, found through
-- relay_envelopes_body by the ack or sweep that deleted references to it,
-- after its commit (spec/relay.md §16.4). expiry_ns is the expiry of every
-- envelope referencing it (one send, one expiry). Ids come from a sequence
-- and are never reused; a Send draws them (nextval) before it inserts, so
-- that its envelope rows can name them in the same batch.
CREATE SEQUENCE relay_bodies_id_seq;
CREATE TABLE relay_bodies (
	id        bigint PRIMARY KEY,
	data      bytea  NOT NULL,
	expiry_ns bigint NOT NULL
);
CREATE INDEX relay_bodies_expiry ON relay_bodies (expiry_ns);

-- An envelope row either holds its envelope in data (body NULL) or
-- references a shared body (data empty, size the body's, body its id).
ALTER TABLE relay_envelopes ADD COLUMN body bigint;
CREATE INDEX relay_envelopes_body ON relay_envelopes (body) WHERE body IS NOT NULL;
