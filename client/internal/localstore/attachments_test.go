//go:build !js

package localstore

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"
)

// Uploads (spec/client-store.md §4.31): listed oldest first (of equal
// times by id), replaced by id, progress and failure recorded on the row,
// ErrNotFound for a row that is gone, nothing written by a read-only
// transaction.
func TestAttachUploads(t *testing.T) {
	s, _ := create(t, pass("p"))
	at := time.UnixMilli(t0.UnixMilli())
	ups := []AttachUpload{
		{ID: []byte("u2"), Conversation: "bob", Spool: "s2", Pointer: []byte("pointer 2"), CipherSize: 200, Created: at},
		{ID: []byte("u1"), Group: []byte("group"), Spool: "s1", Pointer: []byte("pointer 1"), CipherSize: 100, Created: at},
		{ID: []byte("u0"), Conversation: "carol", Spool: "s0", Pointer: []byte("pointer 0"), CipherSize: 50, Created: at.Add(time.Second)},
	}
	update(t, s, func(tx Tx) error {
		for _, u := range ups {
			if err := tx.PutAttachUpload(u); err != nil {
				return err
			}
		}
		if err := tx.SetAttachUploadProgress([]byte("u2"), []byte("upload"), 64); err != nil {
			return err
		}
		if err := tx.FailAttachUpload([]byte("u0"), "too large"); err != nil {
			return err
		}
		for _, err := range []error{
			tx.SetAttachUploadProgress([]byte("none"), []byte("upload"), 1),
			tx.FailAttachUpload([]byte("none"), "x"),
			tx.DeleteAttachUpload([]byte("none")),
		} {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("change of a missing upload: %v, want ErrNotFound", err)
			}
		}
		return nil
	})
	view(t, s, func(tx Tx) error {
		got, err := tx.AttachUploads()
		if err != nil {
			return err
		}
		var ids []string
		for _, u := range got {
			ids = append(ids, string(u.ID))
		}
		if !slices.Equal(ids, []string{"u1", "u2", "u0"}) {
			t.Fatalf("AttachUploads order = %v, want [u1 u2 u0]", ids)
		}
		if u := got[0]; u.Conversation != "" || string(u.Group) != "group" || string(u.Pointer) != "pointer 1" || u.UploadID != nil || u.Uploaded != 0 || !u.Created.Equal(at) || u.Failed != "" {
			t.Errorf("u1 = %+v", u)
		}
		if u := got[1]; u.Group != nil || string(u.UploadID) != "upload" || u.Uploaded != 64 || u.CipherSize != 200 {
			t.Errorf("u2 = %+v", u)
		}
		if u, err := tx.AttachUploadRow([]byte("u0")); err != nil || u.Failed != "too large" || u.Spool != "s0" {
			t.Errorf("AttachUploadRow(u0) = %+v, %v", u, err)
		}
		if _, err := tx.AttachUploadRow([]byte("none")); !errors.Is(err, ErrNotFound) {
			t.Errorf("AttachUploadRow(none): %v, want ErrNotFound", err)
		}
		for _, err := range []error{
			tx.PutAttachUpload(AttachUpload{ID: []byte("u3"), Spool: "s3", Pointer: []byte("p")}),
			tx.SetAttachUploadProgress([]byte("u1"), []byte("x"), 1),
			tx.FailAttachUpload([]byte("u1"), "x"),
			tx.DeleteAttachUpload([]byte("u1")),
		} {
			if !errors.Is(err, errReadOnly) {
				t.Errorf("a write in a read-only transaction: %v, want errReadOnly", err)
			}
		}
		return nil
	})
	update(t, s, func(tx Tx) error {
		// Put again: the row is replaced whole (progress and failure too).
		if err := tx.PutAttachUpload(AttachUpload{ID: []byte("u2"), Conversation: "bob", Spool: "s2b", Pointer: []byte("new"), Created: at.Add(-time.Second)}); err != nil {
			return err
		}
		return tx.DeleteAttachUpload([]byte("u1"))
	})
	view(t, s, func(tx Tx) error {
		got, err := tx.AttachUploads()
		if err != nil {
			return err
		}
		if len(got) != 2 || string(got[0].ID) != "u2" || string(got[0].Pointer) != "new" || got[0].UploadID != nil || got[0].Uploaded != 0 || string(got[1].ID) != "u0" {
			t.Errorf("after replace and delete: %+v", got)
		}
		return nil
	})
}

// Downloads (spec/client-store.md §4.32): the first spool file of a blob
// stays, the ones started before a time are listed, deleting a missing row
// is no error, and SpoolFiles names the spool files of both tables.
func TestAttachDownloads(t *testing.T) {
	s, _ := create(t, pass("p"))
	at := time.UnixMilli(t0.UnixMilli())
	update(t, s, func(tx Tx) error {
		for i, d := range []AttachDownload{
			{BlobID: []byte("b2"), Spool: "d2", Created: at},
			{BlobID: []byte("b1"), Spool: "d1", Created: at.Add(-time.Second)},
			{BlobID: []byte("b3"), Spool: "d3", Created: at.Add(time.Second)},
		} {
			got, err := tx.PutAttachDownload(d)
			if err != nil {
				return err
			}
			if !bytes.Equal(got.BlobID, d.BlobID) || got.Spool != d.Spool || !got.Created.Equal(d.Created) {
				t.Errorf("PutAttachDownload #%d = %+v, want %+v", i, got, d)
			}
		}
		got, err := tx.PutAttachDownload(AttachDownload{BlobID: []byte("b2"), Spool: "other", Created: at.Add(time.Hour)})
		if err != nil || got.Spool != "d2" || !got.Created.Equal(at) {
			t.Errorf("PutAttachDownload of a blob with a row = %+v, %v; want the first row", got, err)
		}
		if err := tx.DeleteAttachDownload([]byte("none")); err != nil {
			t.Errorf("DeleteAttachDownload(none): %v", err)
		}
		return tx.PutAttachUpload(AttachUpload{ID: []byte("u"), Spool: "up", Pointer: []byte("p"), Created: at})
	})
	view(t, s, func(tx Tx) error {
		ds, err := tx.AttachDownloadsBefore(at.Add(time.Second))
		if err != nil {
			return err
		}
		var spools []string
		for _, d := range ds {
			spools = append(spools, d.Spool)
		}
		slices.Sort(spools)
		if !slices.Equal(spools, []string{"d1", "d2"}) {
			t.Errorf("AttachDownloadsBefore = %v, want [d1 d2]", spools)
		}
		files, err := tx.SpoolFiles()
		if err != nil || len(files) != 4 || !files["d1"] || !files["d2"] || !files["d3"] || !files["up"] {
			t.Errorf("SpoolFiles = %v, %v", files, err)
		}
		if _, err := tx.PutAttachDownload(AttachDownload{BlobID: []byte("b4"), Spool: "d4", Created: at}); !errors.Is(err, errReadOnly) {
			t.Errorf("PutAttachDownload in a read-only transaction: %v", err)
		}
		if err := tx.DeleteAttachDownload([]byte("b1")); !errors.Is(err, errReadOnly) {
			t.Errorf("DeleteAttachDownload in a read-only transaction: %v", err)
		}
		return nil
	})
	update(t, s, func(tx Tx) error { return tx.DeleteAttachDownload([]byte("b1")) })
	view(t, s, func(tx Tx) error {
		if ds, err := tx.AttachDownloadsBefore(at.Add(time.Hour)); err != nil || len(ds) != 2 {
			t.Errorf("after delete: %+v, %v", ds, err)
		}
		return nil
	})
}
