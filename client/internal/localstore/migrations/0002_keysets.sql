-- The newest verified key set (transparency log entry) of each account this
-- device has looked up, its own included (spec/client-store.md §4.10).
CREATE TABLE keysets (
	handle TEXT PRIMARY KEY,
	entry  BLOB NOT NULL -- sealed: the log entry, spec/transparency.md §2
) STRICT;
