-- Prekeys rotate on the device's own schedule, whatever the key server
-- answers, and answered initial messages are remembered until the signed
-- prekey they used is deleted (spec/client.md §5.1, §7; spec/client-store.md
-- §4.3, §4.12).

-- The signed public prekey (spec/keys.md §8) while the key server has not
-- acknowledged it; NULL once it has (and for every prekey made before this
-- migration, all of which were published).
ALTER TABLE prekeys ADD COLUMN pending BLOB;

-- SHA-256 of each PQXDH initial message this device answered, with the id
-- of the signed prekey it named.
CREATE TABLE initial_messages (
	hash          BLOB    PRIMARY KEY,
	signed_prekey INTEGER NOT NULL,
	created       INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX initial_messages_prekey ON initial_messages (signed_prekey);
