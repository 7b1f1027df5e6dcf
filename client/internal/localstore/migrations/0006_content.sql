-- Conversation content (spec/client.md §12; spec/client-store.md §4.15 to
-- §4.19): the history of each conversation, held reactions, edits and
-- deletes, conversation settings, the receipt state of sent messages and
-- the receipts still to send.

-- The messages of each conversation, received and sent, with edits,
-- deletions and reactions applied. A row goes when its disappearing
-- timer runs out (secure_delete overwrites it).
CREATE TABLE history (
	seq           INTEGER PRIMARY KEY AUTOINCREMENT,
	conversation  TEXT    NOT NULL,   -- the peer account
	id            BLOB    NOT NULL,   -- the message id
	sender        TEXT    NOT NULL,   -- the sending account
	sender_device INTEGER NOT NULL,
	outgoing      INTEGER NOT NULL,   -- 1: sent by this account
	sent          INTEGER NOT NULL,   -- the sender's clock
	received      INTEGER NOT NULL,
	body          BLOB,               -- sealed: payload version || body; NULL once deleted
	reactions     BLOB,               -- sealed: the reactions; NULL: none
	edited        INTEGER NOT NULL,   -- the last applied edit's time; 0: none
	deleted       INTEGER NOT NULL,   -- 1: deleted for everyone
	timer         INTEGER NOT NULL,   -- disappearing timer, seconds; 0: none
	read          INTEGER NOT NULL,   -- first displayed or read; 0: not yet
	expires       INTEGER NOT NULL,   -- when it is deleted; 0: never or not started
	UNIQUE (conversation, id)
) STRICT;

CREATE INDEX history_expires ON history (expires) WHERE expires > 0;

-- Reactions, edits and deletes that arrived before their target,
-- applied when it arrives (bounded, dropped after 7 days).
CREATE TABLE held_content (
	seq           INTEGER PRIMARY KEY AUTOINCREMENT,
	conversation  TEXT    NOT NULL,
	target        BLOB    NOT NULL,
	sender        TEXT    NOT NULL,
	sender_device INTEGER NOT NULL,
	received      INTEGER NOT NULL,
	payload       BLOB    NOT NULL    -- sealed: the payload
) STRICT;

CREATE INDEX held_content_target ON held_content (conversation, target);

-- Per conversation settings: the disappearing-message timer.
CREATE TABLE conversations (
	peer    TEXT    PRIMARY KEY,
	timer   INTEGER NOT NULL,         -- seconds; 0: off
	changed INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- The receipt state of each sent message at each recipient device.
CREATE TABLE message_devices (
	message_id BLOB    NOT NULL,
	recipient  TEXT    NOT NULL,
	device     INTEGER NOT NULL,
	delivered  INTEGER NOT NULL,      -- when reported; 0: not yet
	read       INTEGER NOT NULL,
	PRIMARY KEY (message_id, recipient, device)
) STRICT, WITHOUT ROWID;

-- Receipts to send, batched per account and type.
CREATE TABLE receipts_out (
	peer       TEXT    NOT NULL,      -- the conversation
	type       INTEGER NOT NULL,      -- 1 delivered, 2 read
	message_id BLOB    NOT NULL,
	created    INTEGER NOT NULL,
	PRIMARY KEY (peer, type, message_id)
) STRICT, WITHOUT ROWID;

-- Ephemeral messages sent in a row on a session (spec/client.md §12.7).
ALTER TABLE sessions ADD COLUMN ephemeral_run INTEGER NOT NULL DEFAULT 0;
