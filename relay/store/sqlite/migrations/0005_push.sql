-- Push registrations (spec/push.md §2, §3; store.PushQueue): at most one
-- push target per mailbox, and its wake-up state. kind is the wire's
-- PushKind (2 Web Push: endpoint, p256dh, auth; 3 gateway: endpoint,
-- token; the fields a kind does not use are NULL).
--
-- gen identifies the registration: the rowid, AUTOINCREMENT, so every new
-- registration of any mailbox gets a larger one and none is ever reused,
-- not even after the newest is deleted: the outcome of a wake-up sent to
-- an old target (WakeDone, WakeFailed, RemovePush name their gen) never
-- touches a new one. A changed target is a new row.
--
-- next_wake is the earliest time (unix milliseconds, 0 at registration)
-- the next wake-up may be claimed; woken is the id (0 for none) of the
-- newest envelope of the mailbox a delivered wake-up covered: the mailbox
-- has new mail while it holds an unexpired envelope with a larger id.
-- An id, not an arrival time: envelopes_addr_id (addr, id) finds the
-- first envelope after it and the newest without reading the queue
-- (spec/push.md §3.1). failures counts the wake-ups that failed since the
-- last one delivered.
CREATE TABLE push (
	gen       INTEGER PRIMARY KEY AUTOINCREMENT,
	addr      BLOB    NOT NULL UNIQUE REFERENCES mailboxes (addr),
	kind      INTEGER NOT NULL,
	endpoint  TEXT    NOT NULL,
	p256dh    BLOB,
	auth      BLOB,
	token     BLOB,
	next_wake INTEGER NOT NULL DEFAULT 0,
	woken     INTEGER NOT NULL DEFAULT 0,
	failures  INTEGER NOT NULL DEFAULT 0
) STRICT;
