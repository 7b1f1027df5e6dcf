-- Sender-key distribution (spec/client.md §14.4; spec/client-store.md §4.26):
-- the devices this device's current sending chain of a group was
-- distributed to, so that a member or a device added since gets the chain as
-- it is then (and nothing sent before), without a new chain for everyone.
ALTER TABLE group_send ADD COLUMN sent_to BLOB NOT NULL DEFAULT x''; -- u8 length || address, each
-- When the current chain was made (0: before this migration): a chain older
-- than the rotation period is replaced before the next message.
ALTER TABLE group_send ADD COLUMN started INTEGER NOT NULL DEFAULT 0;

-- Sender-key distributions held until the group change that makes their
-- sender a member arrives (spec/client.md §14.4: the relay may deliver a
-- member's distribution before the change that added it). One per sending
-- device and group: a newer one replaces it.
CREATE TABLE group_held_keys (
	id       BLOB    NOT NULL,    -- the group id
	handle   TEXT    NOT NULL,    -- the device that distributed it
	device   INTEGER NOT NULL,
	dist     BLOB    NOT NULL,    -- sealed, bound to all three: spec/senderkey.md §5
	received INTEGER NOT NULL,
	PRIMARY KEY (id, handle, device)
) STRICT, WITHOUT ROWID;

-- This account's own group changes that lost a race (spec/groups.md §6.3),
-- stored in the transaction that learned it, until what is left of them is
-- signed again on top of the winner and queued (or nothing is left): a crash
-- after that commit does not lose the intent.
CREATE TABLE group_lost (
	id        BLOB    NOT NULL,    -- the group id
	change_id BLOB    NOT NULL,    -- spec/groups.md §4.3
	change    BLOB    NOT NULL,    -- sealed, bound to both: spec/groups.md §4.2
	PRIMARY KEY (id, change_id)
) STRICT, WITHOUT ROWID;

-- Group messages under a sending chain this device does not hold yet,
-- held until its distribution arrives (the relay may deliver them out of
-- order): bounded per group, the oldest dropped first.
CREATE TABLE group_held_msgs (
	env_id   BLOB    PRIMARY KEY, -- the envelope's id (processed when held)
	id       BLOB    NOT NULL,    -- the group id
	chain_id BLOB    NOT NULL,
	body     BLOB    NOT NULL,    -- sealed, bound to env_id: the sender-key message
	received INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX group_held_msgs_chain ON group_held_msgs (id, chain_id);
