-- Trust policy (spec/client.md §6.2, §6.3; spec/client-store.md §4.9, §4.11).

-- Inbox flags: 1 = arrived under a contact's changed account key, 2 = held
-- (a verified contact's changed key: not offered until re-verified or
-- accepted). A non-zero value is bound into the plaintext's seal.
ALTER TABLE inbox ADD COLUMN flags INTEGER NOT NULL DEFAULT 0 CHECK (flags BETWEEN 0 AND 3);

-- This account's devices that this device created or approved, and those it
-- saw revoked.
CREATE TABLE own_devices (
	device INTEGER PRIMARY KEY,
	record BLOB    NOT NULL  -- sealed: state (1) || SHA-256 of the certificate (32)
) STRICT;
