-- Recipient access control (spec/relay.md §15.8): each mailbox's access
-- setting and its first-contact allowance, read and written by a send
-- with the depth. access_mode is 1 (open, the default) or 2 (contacts);
-- the verifiers are SHA-256 hashes of access keys, never the keys;
-- access_previous is valid while now < access_previous_until (unix
-- milliseconds). first_contact_tat is the allowance's theoretical arrival
-- time (unix milliseconds, 0 for none yet).
ALTER TABLE mailboxes ADD COLUMN access_mode INTEGER NOT NULL DEFAULT 1;
ALTER TABLE mailboxes ADD COLUMN access_current BLOB;
ALTER TABLE mailboxes ADD COLUMN access_previous BLOB;
ALTER TABLE mailboxes ADD COLUMN access_previous_until INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mailboxes ADD COLUMN first_contact_tat INTEGER NOT NULL DEFAULT 0;
