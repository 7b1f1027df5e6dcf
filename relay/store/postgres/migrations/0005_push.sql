-- Push registrations (spec/push.md §2, §3; store.PushQueue): at most one
-- push target per mailbox, and its wake-up state, shared by every relay
-- node on the database. kind is the wire's PushKind (2 Web Push:
-- endpoint, p256dh, auth; 3 gateway: endpoint, token; the fields a kind
-- does not use are NULL). Times are Unix nanoseconds.
--
-- gen identifies the registration, drawn from relay_push_gen_seq for every
-- new registration of any mailbox (a changed target is a new one): never
-- reused, so the outcome of a wake-up sent to an old target (WakeDone,
-- WakeFailed, RemovePush name their gen) never touches a new one.
--
-- next_wake_ns is the earliest time (0 at registration) the next wake-up
-- may be claimed; a claim sets it under the row's lock, so nodes sharing
-- the database never claim one registration twice within an interval.
-- woken is the id (0 for none) of the newest envelope of the mailbox a
-- delivered wake-up covered: the mailbox has new mail while it holds an
-- unexpired envelope with a larger id. An id, not an arrival time: the
-- primary key (address, id) of relay_envelopes finds the first envelope
-- after it and the newest without reading the queue (spec/push.md §3.1).
-- failures counts the wake-ups that failed since the last one delivered.
CREATE SEQUENCE relay_push_gen_seq;
CREATE TABLE relay_push (
	address      bytea    PRIMARY KEY REFERENCES relay_mailboxes (address),
	gen          bigint   NOT NULL,
	kind         smallint NOT NULL,
	endpoint     text     NOT NULL,
	p256dh       bytea,
	auth         bytea,
	token        bytea,
	next_wake_ns bigint   NOT NULL DEFAULT 0,
	woken        bigint   NOT NULL DEFAULT 0,
	failures     integer  NOT NULL DEFAULT 0
);
