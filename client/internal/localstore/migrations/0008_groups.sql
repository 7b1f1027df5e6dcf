-- Groups (spec/groups.md; spec/client.md §14; spec/client-store.md §4.25):
-- each group this device is in, with its state tracker: the oldest state it
-- keeps and the changes it keeps and holds (client/group Tracker.Base and
-- Changes), committed with the message that carried a change.
CREATE TABLE groups (
	id      BLOB    PRIMARY KEY,   -- 32 bytes
	tracker BLOB    NOT NULL,      -- sealed, bound to id
	updated INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
