-- The blob service's database (spec/attachments.md §4, §5; blobs/meta).
-- Times are Unix nanoseconds. Table names carry the blobs_ prefix, as in
-- the PostgreSQL schema, which other services may share.

-- Complete blobs. Several rows may share (account, size, digest) when two
-- uploads of the same bytes finished together; the dedup takes any.
CREATE TABLE blobs_blobs (
	id         BLOB    PRIMARY KEY CHECK (length(id) = 32),
	account    TEXT    NOT NULL,
	size       INTEGER NOT NULL CHECK (size > 0),
	digest     BLOB    NOT NULL CHECK (length(digest) = 32),
	key        TEXT    NOT NULL,
	created_ns INTEGER NOT NULL,
	expires_ns INTEGER NOT NULL
) STRICT;
CREATE INDEX blobs_blobs_dedup ON blobs_blobs (account, size, digest);
CREATE INDEX blobs_blobs_expires ON blobs_blobs (expires_ns);
-- Covers the account's usage sum (CreateUpload, Usage).
CREATE INDEX blobs_blobs_usage ON blobs_blobs (account, expires_ns, size);

-- Open uploads. committed is the committed offset; hash_state the
-- marshaled SHA-256 state over bytes [0, committed). The lease is
-- lease_token (16 bytes, or empty when nobody holds it) until
-- lease_until_ns.
CREATE TABLE blobs_uploads (
	id             BLOB    PRIMARY KEY CHECK (length(id) = 32),
	account        TEXT    NOT NULL,
	size           INTEGER NOT NULL CHECK (size > 0),
	digest         BLOB    NOT NULL CHECK (length(digest) = 32),
	part_size      INTEGER NOT NULL CHECK (part_size > 0),
	key            TEXT    NOT NULL,
	handle         TEXT    NOT NULL,
	committed      INTEGER NOT NULL DEFAULT 0,
	hash_state     BLOB    NOT NULL DEFAULT x'',
	lease_token    BLOB    NOT NULL DEFAULT x'',
	lease_until_ns INTEGER NOT NULL DEFAULT 0,
	created_ns     INTEGER NOT NULL,
	expires_ns     INTEGER NOT NULL
) STRICT;
-- Covers the account's usage sum (CreateUpload, Usage).
CREATE INDEX blobs_uploads_usage ON blobs_uploads (account, expires_ns, size);
CREATE INDEX blobs_uploads_expires ON blobs_uploads (expires_ns);

-- The committed parts of each open upload, in number order.
CREATE TABLE blobs_parts (
	upload_id BLOB    NOT NULL REFERENCES blobs_uploads (id) ON DELETE CASCADE,
	number    INTEGER NOT NULL,
	size      INTEGER NOT NULL,
	tag       TEXT    NOT NULL,
	PRIMARY KEY (upload_id, number)
) STRICT, WITHOUT ROWID;
