-- Attachments (spec/attachments.md §6; spec/client-store.md §4.31, §4.32):
-- files this device is uploading, and downloads in progress.

-- A file being sent: its ciphertext is in a spool file of the store
-- directory; the row goes, in the transaction that queues the message with
-- the pointer, once the blob service holds the whole blob.
CREATE TABLE attach_uploads (
	id            BLOB    PRIMARY KEY, -- the message id the pointer goes out with
	conversation  TEXT    NOT NULL,    -- the recipient account; '' for a group
	group_id      BLOB    NOT NULL,    -- the group; empty for one-to-one
	spool         TEXT    NOT NULL,    -- the spool file's name under spool/
	pointer       BLOB    NOT NULL,    -- sealed: the Content, blob id still zero
	cipher_size   INTEGER NOT NULL,    -- size(C), spec/attachments.md §2.4
	upload_id     BLOB    NOT NULL,    -- the blob service's upload id; empty until created
	uploaded      INTEGER NOT NULL,    -- bytes the blob service has committed
	created       INTEGER NOT NULL,
	failed        TEXT    NOT NULL     -- '' while it goes on; else why it stopped
) STRICT, WITHOUT ROWID;

-- A download in progress: the ciphertext received so far is in a spool
-- file, checked chunk by chunk; gone once the file was handed over.
CREATE TABLE attach_downloads (
	blob_id  BLOB    PRIMARY KEY,
	spool    TEXT    NOT NULL,
	created  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
