-- Shared bodies (spec/relay.md §16): the body of a shared send, stored
-- once and referenced from each recipient mailbox's envelope row. refs is
-- the number of envelope rows whose body is this one; the row that takes
-- it to 0 (Ack or Sweep) deletes the body in the same transaction. expiry
-- is the expiry of every envelope referencing it (one send, one expiry).
-- AUTOINCREMENT: a body id is never reused, so a reference can never name
-- another send's body.
CREATE TABLE bodies (
	id     INTEGER PRIMARY KEY AUTOINCREMENT,
	data   BLOB    NOT NULL,
	refs   INTEGER NOT NULL,
	expiry INTEGER NOT NULL -- unix milliseconds
) STRICT;
CREATE INDEX bodies_expiry ON bodies (expiry);

-- An envelope row either holds its envelope in data (body NULL) or
-- references a shared body (data empty, body its id).
ALTER TABLE envelopes ADD COLUMN body INTEGER;
