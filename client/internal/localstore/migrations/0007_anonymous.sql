-- Anonymous sends (spec/client.md §13; spec/client-store.md §4.8, §4.20):
-- the wallet of unspent send tokens, and the token a queued envelope is
-- paid with, kept so that every retry of that envelope spends the same one.

CREATE TABLE send_tokens (
	id    INTEGER PRIMARY KEY AUTOINCREMENT,
	epoch INTEGER NOT NULL,   -- the token's epoch (spec/anonymous.md §4.1)
	token BLOB    NOT NULL    -- sealed: the 354-byte token
) STRICT;

CREATE INDEX send_tokens_epoch ON send_tokens (epoch, id);

ALTER TABLE outgoing ADD COLUMN send_token BLOB;                    -- sealed; NULL: not paid yet
ALTER TABLE outgoing ADD COLUMN token_epoch INTEGER NOT NULL DEFAULT 0;

-- Access keys (spec/client.md §13.6): the current access key of each
-- device of other accounts, as its last Content said, put on the anonymous
-- sends to that device. This device's own access state is the meta row
-- "access".
CREATE TABLE peer_access_keys (
	handle   TEXT    NOT NULL,
	device   INTEGER NOT NULL,
	key      BLOB    NOT NULL,   -- sealed: 32 bytes
	received INTEGER NOT NULL,
	PRIMARY KEY (handle, device)
) STRICT, WITHOUT ROWID;

-- Accounts this device handed its access key to (spec/client.md §13.6):
-- those it sent a message to, not only receipts. A block sends the new key
-- to these, but the blocked one.
CREATE TABLE access_given (
	handle TEXT    PRIMARY KEY,
	given  INTEGER NOT NULL   -- the last time
) STRICT, WITHOUT ROWID;

-- Accounts this device blocked (spec/client.md §13.7): their messages are
-- dropped, nothing is sent to them, and they no longer get this device's
-- access key.
CREATE TABLE blocked (
	handle  TEXT    PRIMARY KEY,
	blocked INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Seal keys (spec/client.md §13.8): the last-resort KEM prekey of each
-- device of other accounts, as the key server last served it, to which
-- version 2 envelopes are sealed (spec/seal.md §10).
CREATE TABLE seal_keys (
	handle  TEXT    NOT NULL,
	device  INTEGER NOT NULL,
	prekey  BLOB    NOT NULL,   -- sealed: the prekey's encoding (spec/keys.md §8)
	fetched INTEGER NOT NULL,
	PRIMARY KEY (handle, device)
) STRICT, WITHOUT ROWID;
