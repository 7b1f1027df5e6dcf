-- Mailboxes: one per device address. count and bytes are the queue depth
-- (envelopes and their summed sizes), kept up to date in the transaction
-- that changes the queue, so the cap checks read one row.
CREATE TABLE mailboxes (
	addr    BLOB    PRIMARY KEY,
	created INTEGER NOT NULL, -- unix milliseconds
	count   INTEGER NOT NULL DEFAULT 0,
	bytes   INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;

-- Envelopes: ids come from one sequence (AUTOINCREMENT never reuses an
-- id, even after the newest row is deleted), so they increase in arrival
-- order within every mailbox.
CREATE TABLE envelopes (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	addr    BLOB    NOT NULL REFERENCES mailboxes (addr),
	data    BLOB    NOT NULL,
	arrived INTEGER NOT NULL, -- unix milliseconds
	expiry  INTEGER NOT NULL  -- unix milliseconds; live while now < expiry
) STRICT;
CREATE INDEX envelopes_addr_id ON envelopes (addr, id);
CREATE INDEX envelopes_expiry ON envelopes (expiry);

-- Dedup records: the answer given to (sender, message id), one status byte
-- per item, live while Send.Now < until.
CREATE TABLE dedup (
	sender     BLOB    NOT NULL,
	message_id BLOB    NOT NULL,
	statuses   BLOB    NOT NULL,
	until      INTEGER NOT NULL, -- unix milliseconds
	PRIMARY KEY (sender, message_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX dedup_until ON dedup (until);
