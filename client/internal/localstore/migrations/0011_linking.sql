-- Linked devices (spec/client.md §17; spec/client-store.md §4.33): what
-- this device knows of its account's devices besides their approval
-- (own_devices): the name the user gave each, sealed, and when this device
-- last heard from it.
CREATE TABLE device_info (
	device       INTEGER PRIMARY KEY,
	name         BLOB,              -- sealed: the device's name; NULL: none
	name_changed INTEGER NOT NULL,  -- when the name was set, the naming device's clock; 0: never
	last_seen    INTEGER NOT NULL   -- the newest sent time of a message from it; 0: never
) STRICT;
