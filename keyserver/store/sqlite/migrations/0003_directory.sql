-- Key transparency v2 directory (spec/transparency-v2.md §4.7). Epochs,
-- versions and sequence numbers are below 2^63.

-- Map node versions (keyserver/kt/vmap NodeStore): a node's version at
-- epoch e is its row with the greatest epoch <= e. A leaf (depth 256) has
-- version and commitment; an inner node (depth 0..255) its two children.
-- A rowid table, so an epoch's rows are appended together; the unique
-- index on the label serves the reads (one probe per node). Keyed by
-- label instead (WITHOUT ROWID), an epoch's nodes, at random labels,
-- dirtied a page each and took twice as long to commit.
CREATE TABLE vmap_nodes (
	depth        INTEGER NOT NULL CHECK (depth BETWEEN 0 AND 256),
	prefix       BLOB    NOT NULL,  -- 32 bytes, bits past depth zero
	epoch        INTEGER NOT NULL CHECK (epoch >= 1),
	hash         BLOB    NOT NULL,
	version      INTEGER,           -- leaf only
	commitment   BLOB,              -- leaf only
	left_depth   INTEGER,           -- inner only
	left_prefix  BLOB,
	left_hash    BLOB,
	right_depth  INTEGER,
	right_prefix BLOB,
	right_hash   BLOB
) STRICT;
CREATE UNIQUE INDEX vmap_nodes_label ON vmap_nodes (depth, prefix, epoch);

-- The map root of each epoch 1, 2, ... with no gap; NULL top: the empty
-- map. hash is the root hash (vmap.EmptyRoot for the empty map).
CREATE TABLE vmap_roots (
	epoch      INTEGER PRIMARY KEY CHECK (epoch >= 1),
	top_depth  INTEGER,
	top_prefix BLOB,
	hash       BLOB    NOT NULL
) STRICT;

-- The epoch log (§5): the leaf of epoch e at idx e-1, and the hashes tlog
-- stores at tlog.StoredHashIndex indexes, as log_leaves and log_hashes.
CREATE TABLE kt_log_leaves (
	idx  INTEGER PRIMARY KEY,
	leaf BLOB    NOT NULL
) STRICT;

CREATE TABLE kt_log_hashes (
	idx  INTEGER PRIMARY KEY,
	hash BLOB    NOT NULL
) STRICT;

-- Each epoch's public batch (§4.6), as vmap.MarshalBatch encodes it.
CREATE TABLE kt_batches (
	epoch INTEGER PRIMARY KEY,
	batch BLOB    NOT NULL
) STRICT;

-- Each handle's VRF output (its map index) and proof (§3), from the epoch
-- it entered the map.
CREATE TABLE kt_vrf (
	handle TEXT PRIMARY KEY,
	idx    BLOB NOT NULL,
	proof  BLOB NOT NULL
) STRICT, WITHOUT ROWID;

-- Every value a handle had in the map (§6.1): map version seq (1, 2, ...),
-- the key-set version of entry, the epoch that wrote it, the opening of
-- its commitment and the entry.
CREATE TABLE kt_versions (
	handle  TEXT    NOT NULL,
	seq     INTEGER NOT NULL CHECK (seq >= 1),
	version INTEGER NOT NULL CHECK (version >= 1),
	epoch   INTEGER NOT NULL,
	opening BLOB    NOT NULL,
	entry   BLOB    NOT NULL,
	PRIMARY KEY (handle, seq)
) STRICT, WITHOUT ROWID;

-- The key-set version last sequenced into the map (0: never). The partial
-- index holds exactly the accounts waiting for the sequencer, so finding
-- them does not scan every account.
ALTER TABLE accounts ADD COLUMN sequenced_version INTEGER NOT NULL DEFAULT 0;
CREATE INDEX accounts_unsequenced ON accounts (handle) WHERE version > sequenced_version;
