-- Key server schema, version 1. Applied once, inside the migration
-- transaction (migrate.go); never edit an applied migration, add a new file.

-- accounts is each account's current key set header; its devices are in
-- devices.
CREATE TABLE accounts (
	handle      text        PRIMARY KEY,
	account_key bytea       NOT NULL CHECK (length(account_key) = 32),
	version     bigint      NOT NULL CHECK (version >= 1),
	log_index   bigint      NOT NULL,
	created     timestamptz NOT NULL
);

-- devices holds every device an account ever had: a revoked device keeps its
-- row, so its id is never used again within the account. The device's
-- current signed and last-resort prekeys live on its row (NULL until
-- uploaded, cleared at revocation).
CREATE TABLE devices (
	handle         text   NOT NULL REFERENCES accounts (handle),
	id             bigint NOT NULL CHECK (id BETWEEN 1 AND 4294967295),
	certificate    bytea  NOT NULL,
	revocation     bytea,
	signed_id      bigint,
	signed         bytea,
	last_resort_id bigint,
	last_resort    bytea,
	PRIMARY KEY (handle, id)
);

-- prekeys holds one-time prekeys; kind 0 is X25519, kind 1 is ML-KEM-768.
-- A claim deletes the row it hands out.
CREATE TABLE prekeys (
	handle  text     NOT NULL,
	device  bigint   NOT NULL,
	kind    smallint NOT NULL CHECK (kind IN (0, 1)),
	id      bigint   NOT NULL,
	encoded bytea    NOT NULL,
	PRIMARY KEY (handle, device, kind, id),
	FOREIGN KEY (handle, device) REFERENCES devices (handle, id)
);

-- log_head is the one row that serialises log appends across processes:
-- UpdateKeySet locks it (SELECT ... FOR UPDATE) before anything else.
CREATE TABLE log_head (
	id   integer PRIMARY KEY CHECK (id = 1),
	size bigint  NOT NULL CHECK (size >= 0)
);
INSERT INTO log_head (id, size) VALUES (1, 0);

-- log_leaves holds leaf i at idx i.
CREATE TABLE log_leaves (
	idx  bigint PRIMARY KEY CHECK (idx >= 0),
	leaf bytea  NOT NULL
);

-- log_hashes holds the hashes tlog stores, at tlog.StoredHashIndex indexes.
CREATE TABLE log_hashes (
	idx  bigint PRIMARY KEY CHECK (idx >= 0),
	hash bytea  NOT NULL CHECK (length(hash) = 32)
);

-- challenges are outstanding token challenge nonces.
CREATE TABLE challenges (
	nonce  bytea       PRIMARY KEY,
	expiry timestamptz NOT NULL
);
CREATE INDEX challenges_expiry ON challenges (expiry);

-- invites are hashes of invite codes; used_by is set when one is consumed.
CREATE TABLE invites (
	code_hash bytea       PRIMARY KEY,
	used_by   text,
	used_at   timestamptz
);
