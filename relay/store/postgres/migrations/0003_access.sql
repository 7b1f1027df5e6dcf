-- Recipient access control (spec/relay.md §15.8): each mailbox's access
-- setting and its first-contact allowance, read and written by a send
-- under the mailbox row's lock, so every node sharing the database applies
-- the same setting and allowance. access_mode is 1 (open, the default) or
-- 2 (contacts); the verifiers are SHA-256 hashes of access keys, never the
-- keys; access_previous is valid while now < access_previous_until_ns.
-- first_contact_tat_ns is the allowance's theoretical arrival time (0 for
-- none yet).
ALTER TABLE relay_mailboxes ADD COLUMN access_mode smallint NOT NULL DEFAULT 1;
ALTER TABLE relay_mailboxes ADD COLUMN access_current bytea;
ALTER TABLE relay_mailboxes ADD COLUMN access_previous bytea;
ALTER TABLE relay_mailboxes ADD COLUMN access_previous_until_ns bigint NOT NULL DEFAULT 0;
ALTER TABLE relay_mailboxes ADD COLUMN first_contact_tat_ns bigint NOT NULL DEFAULT 0;
