-- The blob service's database (spec/attachments.md §4, §5; blobs/meta).
-- Times are Unix nanoseconds. Table names carry the blobs_ prefix: the key
-- server and the relay may share the schema.

-- Complete blobs. Several rows may share (account, size, digest) when two
-- uploads of the same bytes finished together; the dedup takes any.
CREATE TABLE blobs_blobs (
	id         bytea  PRIMARY KEY CHECK (length(id) = 32),
	account    text   NOT NULL,
	size       bigint NOT NULL CHECK (size > 0),
	digest     bytea  NOT NULL CHECK (length(digest) = 32),
	key        text   NOT NULL,
	created_ns bigint NOT NULL,
	expires_ns bigint NOT NULL
);
CREATE INDEX blobs_blobs_dedup ON blobs_blobs (account, size, digest);
CREATE INDEX blobs_blobs_expires ON blobs_blobs (expires_ns);
-- Covers the account's usage sum (CreateUpload, Usage).
CREATE INDEX blobs_blobs_usage ON blobs_blobs (account, expires_ns, size);

-- Open uploads. committed is the committed offset; hash_state the
-- marshaled SHA-256 state over bytes [0, committed). The lease is
-- lease_token (16 bytes, or empty when nobody holds it) until
-- lease_until_ns.
CREATE TABLE blobs_uploads (
	id             bytea  PRIMARY KEY CHECK (length(id) = 32),
	account        text   NOT NULL,
	size           bigint NOT NULL CHECK (size > 0),
	digest         bytea  NOT NULL CHECK (length(digest) = 32),
	part_size      bigint NOT NULL CHECK (part_size > 0),
	key            text   NOT NULL,
	handle         text   NOT NULL,
	committed      bigint NOT NULL DEFAULT 0,
	hash_state     bytea  NOT NULL DEFAULT '',
	lease_token    bytea  NOT NULL DEFAULT '',
	lease_until_ns bigint NOT NULL DEFAULT 0,
	created_ns     bigint NOT NULL,
	expires_ns     bigint NOT NULL
);
-- Covers the account's usage sum (CreateUpload, Usage).
CREATE INDEX blobs_uploads_usage ON blobs_uploads (account, expires_ns, size);
CREATE INDEX blobs_uploads_expires ON blobs_uploads (expires_ns);

-- The committed parts of each open upload, in number order.
CREATE TABLE blobs_parts (
	upload_id bytea   NOT NULL REFERENCES blobs_uploads (id) ON DELETE CASCADE,
	number    integer NOT NULL,
	size      bigint  NOT NULL,
	tag       text    NOT NULL,
	PRIMARY KEY (upload_id, number)
);
