-- Link mailboxes (spec/relay.md §17, store.Links): a mailbox at a link
-- address (0x00 || link id) with an offer and an expiry. link_expiry is 0
-- for a device mailbox, else the link mailbox's expiry (unix
-- milliseconds; live while now < link_expiry); link_offer is its offer
-- (NULL for none). The partial index serves the cap on live link
-- mailboxes and the sweep of expired ones, and holds no device mailbox.
ALTER TABLE mailboxes ADD COLUMN link_expiry INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mailboxes ADD COLUMN link_offer BLOB;
CREATE INDEX mailboxes_link_expiry ON mailboxes (link_expiry) WHERE link_expiry > 0;
