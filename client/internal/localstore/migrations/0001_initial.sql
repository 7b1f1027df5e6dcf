-- Client store schema, version 1 (spec/client-store.md §4). Times are Unix
-- nanoseconds (UTC), 0 for none. Columns marked "sealed" hold values sealed
-- with the store's sealing key (spec/client-store.md §3); the fields bound
-- into each sealed value's associated data are listed in §4.

-- Row 'check': a sealed constant proving state.db belongs to key.age.
CREATE TABLE meta (
	name  TEXT PRIMARY KEY,
	value BLOB NOT NULL             -- sealed
) STRICT, WITHOUT ROWID;

-- This device's own identity: one row.
CREATE TABLE identity (
	id           INTEGER PRIMARY KEY CHECK (id = 1),
	handle       TEXT    NOT NULL,
	device_id    INTEGER NOT NULL,
	account_seed BLOB,              -- sealed; NULL on a device without the account key
	signing_seed BLOB    NOT NULL,  -- sealed
	dh_private   BLOB    NOT NULL,  -- sealed
	certificate  BLOB    NOT NULL
) STRICT;

-- This device's prekey private keys by kind (spec/keys.md §8) and id.
CREATE TABLE prekeys (
	kind    INTEGER NOT NULL,
	id      INTEGER NOT NULL,
	secret  BLOB    NOT NULL,       -- sealed
	created INTEGER NOT NULL,
	used    INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (kind, id)
) STRICT, WITHOUT ROWID;

-- Ratchet sessions, one per peer device.
CREATE TABLE sessions (
	peer_handle TEXT    NOT NULL,
	peer_device INTEGER NOT NULL,
	state       BLOB    NOT NULL,   -- sealed
	updated     INTEGER NOT NULL,
	PRIMARY KEY (peer_handle, peer_device)
) STRICT, WITHOUT ROWID;

-- Contacts: account key, verified flag, key-set version and pinned log
-- index, all in one sealed record.
CREATE TABLE contacts (
	handle TEXT PRIMARY KEY,
	record BLOB NOT NULL            -- sealed
) STRICT, WITHOUT ROWID;

-- The pinned transparency checkpoint: one row.
CREATE TABLE checkpoint (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	text    BLOB    NOT NULL,       -- sealed
	updated INTEGER NOT NULL
) STRICT;

-- Ids of processed envelopes and messages (exactly-once delivery).
CREATE TABLE processed (
	id        BLOB    PRIMARY KEY,
	processed INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX processed_time ON processed (processed);

-- The outgoing queue, one row per message and recipient device, in order.
CREATE TABLE outgoing (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	message_id BLOB    NOT NULL,
	recipient  TEXT    NOT NULL,
	device     INTEGER NOT NULL,
	envelope   BLOB    NOT NULL,    -- sealed
	attempts   INTEGER NOT NULL DEFAULT 0,
	created    INTEGER NOT NULL,
	UNIQUE (message_id, recipient, device)
) STRICT;

-- Received messages, in arrival order, until the app has them.
CREATE TABLE inbox (
	seq           INTEGER PRIMARY KEY AUTOINCREMENT,
	id            BLOB    NOT NULL UNIQUE,
	sender        TEXT    NOT NULL,
	sender_device INTEGER NOT NULL,
	time          INTEGER NOT NULL,
	plaintext     BLOB    NOT NULL, -- sealed
	delivered     INTEGER NOT NULL DEFAULT 0 CHECK (delivered IN (0, 1))
) STRICT;

CREATE INDEX inbox_undelivered ON inbox (delivered, seq);
