package localstore

import (
	"database/sql"
	"errors"
	"time"
)

// Attachments (spec/client-store.md §4.31, §4.32).

func attachUploadAD(id []byte) rowKey { return newRowKey("attach_uploads", "pointer").bytes(id) }

// AttachUpload is a file this device is sending (spec/attachments.md §6.1).
type AttachUpload struct {
	ID           []byte // the message id
	Conversation string // the recipient account; "" for a group
	Group        []byte // the group id; nil for one-to-one
	Spool        string // the spool file's name
	Pointer      []byte // the Content with the pointer, blob id zero
	CipherSize   int64
	UploadID     []byte // nil until the blob service made the upload
	Uploaded     int64
	Created      time.Time
	Failed       string
}

// PutAttachUpload stores a new upload, or replaces the row with its id.
func (tx *sqlTx) PutAttachUpload(u AttachUpload) error {
	if tx.readOnly {
		return errReadOnly
	}
	sealed, err := tx.s.seal(attachUploadAD(u.ID), u.Pointer)
	if err != nil {
		return err
	}
	_, err = tx.exec("put attach upload", `INSERT OR REPLACE INTO attach_uploads
		(id, conversation, group_id, spool, pointer, cipher_size, upload_id, uploaded, created, failed)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		nonNil(u.ID), u.Conversation, nonNil(u.Group), u.Spool, sealed, u.CipherSize, nonNil(u.UploadID), u.Uploaded, u.Created.UnixMilli(), u.Failed)
	return err
}

// SetAttachUploadProgress records the blob service's upload id and how
// much of it is committed; ErrNotFound if the row is gone.
func (tx *sqlTx) SetAttachUploadProgress(id, uploadID []byte, uploaded int64) error {
	return tx.execOne("set attach upload", `UPDATE attach_uploads SET upload_id = ?, uploaded = ? WHERE id = ?`, nonNil(uploadID), uploaded, nonNil(id))
}

// FailAttachUpload marks an upload stopped for good with the reason.
func (tx *sqlTx) FailAttachUpload(id []byte, reason string) error {
	return tx.execOne("fail attach upload", `UPDATE attach_uploads SET failed = ? WHERE id = ?`, reason, nonNil(id))
}

// DeleteAttachUpload deletes an upload's row; ErrNotFound if there is none.
func (tx *sqlTx) DeleteAttachUpload(id []byte) error {
	return tx.execOne("delete attach upload", `DELETE FROM attach_uploads WHERE id = ?`, nonNil(id))
}

// AttachUploadRow returns one upload, or ErrNotFound.
func (tx *sqlTx) AttachUploadRow(id []byte) (AttachUpload, error) {
	rows, err := tx.attachUploads(`WHERE id = ?`, nonNil(id))
	if err != nil {
		return AttachUpload{}, err
	}
	if len(rows) == 0 {
		return AttachUpload{}, ErrNotFound
	}
	return rows[0], nil
}

// AttachUploads returns every upload, oldest first.
func (tx *sqlTx) AttachUploads() ([]AttachUpload, error) {
	return tx.attachUploads(`ORDER BY created, id`)
}

func (tx *sqlTx) attachUploads(where string, args ...any) ([]AttachUpload, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT id, conversation, group_id, spool, pointer, cipher_size, upload_id, uploaded, created, failed FROM attach_uploads `+where, args...)
	if err != nil {
		return nil, dbErr("list attach uploads", err)
	}
	defer rows.Close()
	var out []AttachUpload
	for rows.Next() {
		var (
			u       AttachUpload
			sealed  []byte
			created int64
		)
		if err := rows.Scan(&u.ID, &u.Conversation, &u.Group, &u.Spool, &sealed, &u.CipherSize, &u.UploadID, &u.Uploaded, &created, &u.Failed); err != nil {
			return nil, dbErr("list attach uploads", err)
		}
		if err := tx.s.openAttachUpload(&u, sealed, created); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list attach uploads", err)
	}
	return out, nil
}

// openAttachUpload completes u, read from its row, with its opened
// pointer and creation time (both engines): empty group and upload ids are
// nil.
func (s *Store) openAttachUpload(u *AttachUpload, sealed []byte, created int64) error {
	var err error
	if u.Pointer, err = s.open(attachUploadAD(u.ID), sealed); err != nil {
		return err
	}
	if len(u.Group) == 0 {
		u.Group = nil
	}
	if len(u.UploadID) == 0 {
		u.UploadID = nil
	}
	u.Created = time.UnixMilli(created)
	return nil
}

// AttachDownload is a download in progress (spec/attachments.md §6.3).
type AttachDownload struct {
	BlobID  []byte
	Spool   string
	Created time.Time
}

// PutAttachDownload records a download's spool file unless the blob has
// one already; it returns the row as stored.
func (tx *sqlTx) PutAttachDownload(d AttachDownload) (AttachDownload, error) {
	if tx.readOnly {
		return AttachDownload{}, errReadOnly
	}
	if _, err := tx.exec("put attach download", `INSERT OR IGNORE INTO attach_downloads (blob_id, spool, created) VALUES (?, ?, ?)`,
		nonNil(d.BlobID), d.Spool, d.Created.UnixMilli()); err != nil {
		return AttachDownload{}, err
	}
	var (
		out     AttachDownload
		created int64
	)
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT blob_id, spool, created FROM attach_downloads WHERE blob_id = ?`, nonNil(d.BlobID)).Scan(&out.BlobID, &out.Spool, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return AttachDownload{}, ErrNotFound
	}
	if err != nil {
		return AttachDownload{}, dbErr("get attach download", err)
	}
	out.Created = time.UnixMilli(created)
	return out, nil
}

// DeleteAttachDownload deletes a download's row (no error when absent).
func (tx *sqlTx) DeleteAttachDownload(blobID []byte) error {
	_, err := tx.exec("delete attach download", `DELETE FROM attach_downloads WHERE blob_id = ?`, nonNil(blobID))
	return err
}

// AttachDownloadsBefore returns the downloads started before t.
func (tx *sqlTx) AttachDownloadsBefore(t time.Time) ([]AttachDownload, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT blob_id, spool, created FROM attach_downloads WHERE created < ?`, t.UnixMilli())
	if err != nil {
		return nil, dbErr("list attach downloads", err)
	}
	defer rows.Close()
	var out []AttachDownload
	for rows.Next() {
		var (
			d       AttachDownload
			created int64
		)
		if err := rows.Scan(&d.BlobID, &d.Spool, &created); err != nil {
			return nil, dbErr("list attach downloads", err)
		}
		d.Created = time.UnixMilli(created)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list attach downloads", err)
	}
	return out, nil
}

// SpoolFiles returns the spool file names the store refers to.
func (tx *sqlTx) SpoolFiles() (map[string]bool, error) {
	out := map[string]bool{}
	for _, q := range []string{`SELECT spool FROM attach_uploads`, `SELECT spool FROM attach_downloads`} {
		rows, err := tx.tx.QueryContext(tx.ctx, q)
		if err != nil {
			return nil, dbErr("list spool files", err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				return nil, dbErr("list spool files", err)
			}
			out[s] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, dbErr("list spool files", err)
		}
	}
	return out, nil
}
