-- Send tokens (spec/anonymous.md §4.3, spec/keyserver.md §5.10): the
-- issuer's signing key of each epoch, PKCS#8 DER, one per epoch (the
-- primary key makes the first writer win among the nodes sharing this
-- database), and how many tokens each account was issued in an epoch.
CREATE TABLE send_token_keys (
    epoch       BIGINT PRIMARY KEY,
    private_key BYTEA NOT NULL
);
CREATE TABLE send_token_counts (
    handle TEXT NOT NULL,
    epoch  BIGINT NOT NULL,
    issued INTEGER NOT NULL CHECK (issued >= 0),
    PRIMARY KEY (handle, epoch)
);
CREATE INDEX send_token_counts_epoch ON send_token_counts (epoch);
