package localstore

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"time"
)

// The kv engine's attachment transfers (attachments.go).

// PutAttachUpload implements Tx.
func (tx *kvTx) PutAttachUpload(u AttachUpload) error {
	if err := tx.writable(); err != nil {
		return err
	}
	sealed, err := tx.s.seal(attachUploadAD(u.ID), u.Pointer)
	if err != nil {
		return err
	}
	h := tx.t("attach_uploads")
	_, err = h.put(h.row("id", nonNil(u.ID), "conversation", u.Conversation, "group_id", nonNil(u.Group),
		"spool", u.Spool, "pointer", sealed, "cipher_size", u.CipherSize, "upload_id", nonNil(u.UploadID),
		"uploaded", u.Uploaded, "created", u.Created.UnixMilli(), "failed", u.Failed))
	return err
}

// SetAttachUploadProgress implements Tx.
func (tx *kvTx) SetAttachUploadProgress(id, uploadID []byte, uploaded int64) error {
	return tx.updateAttachUpload("set attach upload", id, func(r kvRow) {
		r.set("upload_id", nonNil(uploadID)).set("uploaded", uploaded)
	})
}

// FailAttachUpload implements Tx.
func (tx *kvTx) FailAttachUpload(id []byte, reason string) error {
	return tx.updateAttachUpload("fail attach upload", id, func(r kvRow) { r.set("failed", reason) })
}

// updateAttachUpload changes the upload row id with change; ErrNotFound
// if there is none.
func (tx *kvTx) updateAttachUpload(op string, id []byte, change func(kvRow)) error {
	if err := tx.writable(); err != nil {
		return err
	}
	h := tx.t("attach_uploads")
	r, ok := h.get(nonNil(id))
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, op)
	}
	change(r)
	_, err := h.update(r)
	return err
}

// DeleteAttachUpload implements Tx.
func (tx *kvTx) DeleteAttachUpload(id []byte) error {
	ok, err := tx.t("attach_uploads").del(nonNil(id))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: delete attach upload", ErrNotFound)
	}
	return nil
}

// AttachUploadRow implements Tx.
func (tx *kvTx) AttachUploadRow(id []byte) (AttachUpload, error) {
	r, ok := tx.t("attach_uploads").get(nonNil(id))
	if !ok {
		return AttachUpload{}, ErrNotFound
	}
	return tx.attachUpload(r)
}

// AttachUploads implements Tx: by creation time, then id.
func (tx *kvTx) AttachUploads() ([]AttachUpload, error) {
	rows := tx.t("attach_uploads").all()
	slices.SortStableFunc(rows, func(a, b kvRow) int {
		if c := cmp.Compare(a.i("created"), b.i("created")); c != 0 {
			return c
		}
		return bytes.Compare(a.b("id"), b.b("id"))
	})
	var out []AttachUpload
	for _, r := range rows {
		u, err := tx.attachUpload(r)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

func (tx *kvTx) attachUpload(r kvRow) (AttachUpload, error) {
	u := AttachUpload{
		ID:           bytes.Clone(r.b("id")), // the caller's, not the table's
		Conversation: r.s("conversation"),
		Group:        bytes.Clone(r.b("group_id")),
		Spool:        r.s("spool"),
		CipherSize:   r.i("cipher_size"),
		UploadID:     bytes.Clone(r.b("upload_id")),
		Uploaded:     r.i("uploaded"),
		Failed:       r.s("failed"),
	}
	if err := tx.s.openAttachUpload(&u, r.b("pointer"), r.i("created")); err != nil {
		return AttachUpload{}, err
	}
	return u, nil
}

// PutAttachDownload implements Tx: a blob that has a row keeps it
// (SQLite's INSERT OR IGNORE).
func (tx *kvTx) PutAttachDownload(d AttachDownload) (AttachDownload, error) {
	if err := tx.writable(); err != nil {
		return AttachDownload{}, err
	}
	h := tx.t("attach_downloads")
	r, ok := h.get(nonNil(d.BlobID))
	if !ok {
		var err error
		r, err = h.insert(h.row("blob_id", nonNil(d.BlobID), "spool", d.Spool, "created", d.Created.UnixMilli()))
		if err != nil {
			return AttachDownload{}, fmt.Errorf("localstore: put attach download: %w", err)
		}
	}
	return attachDownload(r), nil
}

func attachDownload(r kvRow) AttachDownload {
	return AttachDownload{BlobID: bytes.Clone(r.b("blob_id")), Spool: r.s("spool"), Created: time.UnixMilli(r.i("created"))}
}

// DeleteAttachDownload implements Tx.
func (tx *kvTx) DeleteAttachDownload(blobID []byte) error {
	_, err := tx.t("attach_downloads").del(nonNil(blobID))
	return err
}

// AttachDownloadsBefore implements Tx, in blob id order (SQLite's order
// for the table WITHOUT ROWID).
func (tx *kvTx) AttachDownloadsBefore(t time.Time) ([]AttachDownload, error) {
	before := t.UnixMilli()
	var out []AttachDownload
	tx.t("attach_downloads").scan(false, func(r kvRow) bool {
		if r.i("created") < before {
			out = append(out, attachDownload(r))
		}
		return true
	})
	return out, nil
}

// SpoolFiles implements Tx.
func (tx *kvTx) SpoolFiles() (map[string]bool, error) {
	out := map[string]bool{}
	for _, table := range []string{"attach_uploads", "attach_downloads"} {
		tx.t(table).scan(false, func(r kvRow) bool {
			out[r.s("spool")] = true
			return true
		})
	}
	return out, nil
}
