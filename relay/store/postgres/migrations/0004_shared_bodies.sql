-- Shared bodies (spec/relay.md §16): the body of a shared send, stored
-- once and referenced from each recipient mailbox's envelope row. refs is
-- the number of envelope rows whose body is this one; the transaction
-- that takes it to 0 (Ack or Sweep) deletes the body. expiry_ns is the
-- expiry of every envelope referencing it (one send, one expiry). Ids come
-- from a sequence and are never reused; a Send draws them (nextval) before
-- it inserts, so that its envelope rows can name them in the same batch.
-- Lock order: mailbox rows, then body rows in id order (Ack, Sweep).
CREATE SEQUENCE relay_bodies_id_seq;
CREATE TABLE relay_bodies (
	id        bigint  PRIMARY KEY,
	data      bytea   NOT NULL,
	refs      integer NOT NULL CHECK (refs >= 0),
	expiry_ns bigint  NOT NULL
);
CREATE INDEX relay_bodies_expiry ON relay_bodies (expiry_ns);

-- An envelope row either holds its envelope in data (body NULL) or
-- references a shared body (data empty, size the body's, body its id).
ALTER TABLE relay_envelopes ADD COLUMN body bigint;

-- The bodies whose last reference a transaction just released, deleted by
-- that transaction (DELETE ... WHERE refs <= 0): the partial index holds
-- only those, so the delete never scans the table.
CREATE INDEX relay_bodies_released ON relay_bodies (id) WHERE refs <= 0;
