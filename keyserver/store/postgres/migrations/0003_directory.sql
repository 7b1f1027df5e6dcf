-- Key transparency v2 directory (spec/transparency-v2.md §4.7). Epochs,
-- versions and sequence numbers are below 2^63.

-- Map node versions (keyserver/kt/vmap NodeStore): a node's version at
-- epoch e is its row with the greatest epoch <= e. A leaf (depth 256) has
-- version and commitment; an inner node (depth 0..255) its two children.
CREATE TABLE vmap_nodes (
	depth        smallint NOT NULL CHECK (depth BETWEEN 0 AND 256),
	prefix       bytea    NOT NULL CHECK (length(prefix) = 32),
	epoch        bigint   NOT NULL CHECK (epoch >= 1),
	hash         bytea    NOT NULL CHECK (length(hash) = 32),
	version      bigint,   -- leaf only
	commitment   bytea,    -- leaf only
	left_depth   smallint, -- inner only
	left_prefix  bytea,
	left_hash    bytea,
	right_depth  smallint,
	right_prefix bytea,
	right_hash   bytea,
	PRIMARY KEY (depth, prefix, epoch)
);

-- The map root of each epoch 1, 2, ... with no gap; NULL top: the empty
-- map. hash is the root hash (vmap.EmptyRoot for the empty map). The
-- primary key is what keeps two sequencers from both committing an epoch:
-- CommitEpoch inserts this row first, so the second waits for the first
-- and then fails.
CREATE TABLE vmap_roots (
	epoch      bigint   PRIMARY KEY CHECK (epoch >= 1),
	top_depth  smallint,
	top_prefix bytea,
	hash       bytea    NOT NULL CHECK (length(hash) = 32)
);

-- The epoch log (§5): the leaf of epoch e at idx e-1, and the hashes tlog
-- stores at tlog.StoredHashIndex indexes, as log_leaves and log_hashes.
CREATE TABLE kt_log_leaves (
	idx  bigint PRIMARY KEY CHECK (idx >= 0),
	leaf bytea  NOT NULL
);

CREATE TABLE kt_log_hashes (
	idx  bigint PRIMARY KEY CHECK (idx >= 0),
	hash bytea  NOT NULL CHECK (length(hash) = 32)
);

-- Each epoch's public batch (§4.6), as vmap.MarshalBatch encodes it.
CREATE TABLE kt_batches (
	epoch bigint PRIMARY KEY,
	batch bytea  NOT NULL
);

-- Each handle's VRF output (its map index) and proof (§3), from the epoch
-- it entered the map.
CREATE TABLE kt_vrf (
	handle text  PRIMARY KEY,
	idx    bytea NOT NULL CHECK (length(idx) = 32),
	proof  bytea NOT NULL
);

-- Every value a handle had in the map (§6.1): map version seq (1, 2, ...),
-- the key-set version of entry, the epoch that wrote it, the opening of
-- its commitment and the entry.
CREATE TABLE kt_versions (
	handle  text   NOT NULL,
	seq     bigint NOT NULL CHECK (seq >= 1),
	version bigint NOT NULL CHECK (version >= 1),
	epoch   bigint NOT NULL,
	opening bytea  NOT NULL CHECK (length(opening) = 32),
	entry   bytea  NOT NULL,
	PRIMARY KEY (handle, seq)
);

-- The key-set version last sequenced into the map (0: never). The partial
-- index holds exactly the accounts waiting for the sequencer, so finding
-- them does not scan every account.
ALTER TABLE accounts ADD COLUMN sequenced_version bigint NOT NULL DEFAULT 0;
CREATE INDEX accounts_unsequenced ON accounts (handle) WHERE version > sequenced_version;
