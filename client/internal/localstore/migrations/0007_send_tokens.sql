-- Anonymous sends (spec/client.md §13; spec/client-store.md §4.8, §4.20):
-- the wallet of unspent send tokens, and the token a queued envelope is
-- paid with, kept so that every retry of that envelope spends the same one.

CREATE TABLE send_tokens (
	id    INTEGER PRIMARY KEY AUTOINCREMENT,
	epoch INTEGER NOT NULL,   -- the token's epoch (spec/anonymous.md §4.1)
	token BLOB    NOT NULL    -- sealed: the 354-byte token
) STRICT;

CREATE INDEX send_tokens_epoch ON send_tokens (epoch, id);

ALTER TABLE outgoing ADD COLUMN send_token BLOB;                    -- sealed; NULL: not paid yet
ALTER TABLE outgoing ADD COLUMN token_epoch INTEGER NOT NULL DEFAULT 0;
