-- Link mailboxes (spec/relay.md §17, store.Links): a mailbox at a link
-- address (0x00 || link id) with an offer and an expiry, shared by every
-- relay node on the database. link_expiry_ns is 0 for a device mailbox,
-- else the link mailbox's expiry (Unix nanoseconds; live while now <
-- link_expiry_ns); link_offer is its offer (NULL for none). The partial
-- index serves the cap on live link mailboxes and the sweep of expired
-- ones, and holds no device mailbox.
ALTER TABLE relay_mailboxes ADD COLUMN link_expiry_ns bigint NOT NULL DEFAULT 0;
ALTER TABLE relay_mailboxes ADD COLUMN link_offer bytea;
CREATE INDEX relay_mailboxes_link_expiry ON relay_mailboxes (link_expiry_ns) WHERE link_expiry_ns > 0;
