-- Groups (spec/groups.md; spec/client.md §14; spec/client-store.md §4.25):
-- each group this device is in, with its state tracker: the oldest state it
-- keeps and the changes it keeps and holds (client/group Tracker.Base and
-- Changes), committed with the message that carried a change.
CREATE TABLE groups (
	id      BLOB    PRIMARY KEY,   -- 32 bytes
	tracker BLOB    NOT NULL,      -- sealed, bound to id
	updated INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Sender keys (spec/senderkey.md; spec/client.md §14.4): this device's
-- sending chain of each group (rotate: a new one is due before the next
-- group message), and the receiving chains other member devices
-- distributed, each bound to the device that distributed it.
CREATE TABLE group_send (
	id     BLOB    PRIMARY KEY,   -- the group id
	chain  BLOB    NOT NULL,      -- sealed: spec/senderkey.md §7.1
	rotate INTEGER NOT NULL       -- 1: start a new chain before the next message
) STRICT, WITHOUT ROWID;

CREATE TABLE group_recv (
	id       BLOB    NOT NULL,    -- the group id
	chain_id BLOB    NOT NULL,    -- 16 bytes
	handle   TEXT    NOT NULL,    -- the device that distributed it
	device   INTEGER NOT NULL,
	chain    BLOB    NOT NULL,    -- sealed: spec/senderkey.md §7.2
	PRIMARY KEY (id, chain_id)
) STRICT, WITHOUT ROWID;

-- Group messages not yet answered by the relay (spec/client.md §14.4):
-- queued in the transaction that advances the sending chain, sent again
-- under the same relay message id after a restart or a lost connection,
-- deleted when the relay answers.
CREATE TABLE group_outgoing (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	message_id BLOB    NOT NULL UNIQUE, -- 16 bytes
	body       BLOB    NOT NULL,        -- sealed: 0x10 || the sender-key message
	recipients BLOB    NOT NULL,        -- u8 length || address, each
	created    INTEGER NOT NULL
) STRICT;
