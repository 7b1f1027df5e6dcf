-- Key server schema, version 1. Integers are SQLite's 64-bit integers;
-- device and prekey ids are uint32 values; times are Unix nanoseconds (UTC).

CREATE TABLE accounts (
	handle      TEXT    PRIMARY KEY,
	account_key BLOB    NOT NULL,
	version     INTEGER NOT NULL,  -- key-set version, 1 after registration
	log_index   INTEGER NOT NULL,  -- leaf recording version
	created     INTEGER NOT NULL
) STRICT;

-- Device ids are never reused within an account: a revoked device keeps its row.
CREATE TABLE devices (
	handle      TEXT    NOT NULL REFERENCES accounts (handle),
	id          INTEGER NOT NULL,
	certificate BLOB    NOT NULL,
	revocation  BLOB,              -- NULL while the device is active
	PRIMARY KEY (handle, id)
) STRICT, WITHOUT ROWID;

-- The transparency log: leaf n at idx n, and the hashes tlog stores at
-- tlog.StoredHashIndex indexes.
CREATE TABLE log_leaves (
	idx  INTEGER PRIMARY KEY,
	leaf BLOB    NOT NULL
) STRICT;

CREATE TABLE log_hashes (
	idx  INTEGER PRIMARY KEY,
	hash BLOB    NOT NULL
) STRICT;

-- Prekeys by kind (spec/keys.md §8): 1 signed, 2 one-time, 3 last-resort
-- KEM, 4 one-time KEM. A device holds at most one signed and one
-- last-resort prekey; one-time prekeys are deleted by the claim that
-- hands them out, and all of a device's prekeys when it is revoked.
CREATE TABLE prekeys (
	handle  TEXT    NOT NULL,
	device  INTEGER NOT NULL,
	kind    INTEGER NOT NULL CHECK (kind BETWEEN 1 AND 4),
	id      INTEGER NOT NULL,
	encoded BLOB    NOT NULL,
	PRIMARY KEY (handle, device, kind, id),
	FOREIGN KEY (handle, device) REFERENCES devices (handle, id)
) STRICT, WITHOUT ROWID;

CREATE UNIQUE INDEX prekeys_medium_term ON prekeys (handle, device, kind) WHERE kind IN (1, 3);

CREATE TABLE challenges (
	nonce  BLOB    PRIMARY KEY,
	expiry INTEGER NOT NULL
) STRICT;

CREATE INDEX challenges_expiry ON challenges (expiry);

-- Invite codes by hash; a used code stays, marked used.
CREATE TABLE invites (
	hash BLOB    PRIMARY KEY,
	used INTEGER NOT NULL DEFAULT 0
) STRICT;
