-- Ordered and idempotent sending (spec/client.md §3; spec/client-store.md
-- §4.8, §4.13, §4.14).

-- The outgoing queue is one FIFO per recipient device: read by device, in
-- seq order.
CREATE INDEX outgoing_device ON outgoing (recipient, device, seq);

-- The message ids this device queued, kept for 30 days after the message
-- left the queue, so that a Send repeated with the same id sends nothing
-- new.
CREATE TABLE sent (
	message_id BLOB    PRIMARY KEY,
	digest     BLOB,             -- sealed: SHA-256 over the recipient handle and plaintext; NULL: not known
	created    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX sent_created ON sent (created);

-- Messages queued before this migration: their ids are recorded, without
-- a digest.
INSERT INTO sent (message_id, digest, created)
	SELECT message_id, NULL, MIN(created) FROM outgoing GROUP BY message_id;

-- The recipient devices the relay refused a sent message for, with the
-- relay's status; they go with the message's sent row.
CREATE TABLE sent_refused (
	message_id BLOB    NOT NULL,
	recipient  TEXT    NOT NULL,
	device     INTEGER NOT NULL,
	status     INTEGER NOT NULL,
	PRIMARY KEY (message_id, recipient, device)
) STRICT, WITHOUT ROWID;
