-- Relay queues (spec/relay.md, "Storage"). Times are Unix nanoseconds.
-- Table names carry the relay_ prefix: the key server may share the schema.

-- One row per device address that has authenticated. count and bytes are
-- the queue depth, kept in step with relay_envelopes by every change; a
-- Send locks the row (UPDATE) while it checks the caps and appends, which
-- also orders envelope ids per mailbox by commit.
CREATE TABLE relay_mailboxes (
	address    bytea   PRIMARY KEY,
	created_ns bigint  NOT NULL,
	count      integer NOT NULL DEFAULT 0 CHECK (count >= 0),
	bytes      bigint  NOT NULL DEFAULT 0 CHECK (bytes >= 0)
);

-- Queued envelopes. id increases in arrival order (within a mailbox, in
-- commit order too: ids are drawn while the mailbox row is locked).
CREATE TABLE relay_envelopes (
	id         bigserial PRIMARY KEY,
	address    bytea     NOT NULL,
	data       bytea     NOT NULL,
	size       integer   NOT NULL,
	arrived_ns bigint    NOT NULL,
	expiry_ns  bigint    NOT NULL
);
CREATE INDEX relay_envelopes_address_id ON relay_envelopes (address, id);
CREATE INDEX relay_envelopes_expiry ON relay_envelopes (expiry_ns);

-- The answer given to each (sender, message id), one status byte per item,
-- kept until until_ns. A row whose until_ns has passed counts as absent.
CREATE TABLE relay_dedup (
	sender     bytea  NOT NULL,
	message_id bytea  NOT NULL,
	statuses   bytea  NOT NULL,
	until_ns   bigint NOT NULL,
	PRIMARY KEY (sender, message_id)
);
CREATE INDEX relay_dedup_until ON relay_dedup (until_ns);
