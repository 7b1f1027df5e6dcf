package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
	"unicode/utf8"

	"github.com/sealpost/sealpost/blobs/blobclient"
	"github.com/sealpost/sealpost/client/content"
	"github.com/sealpost/sealpost/client/content/contentpb"
	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/stream"
)

// Attachments (spec/attachments.md §6): a file is encrypted into a spool
// file of the store directory, uploaded to the blob service from there
// (resuming after a broken connection or a restart), and named to the
// recipients by a pointer sent as an ordinary message.

// Errors of the attachment API.
var (
	// ErrAttachmentCorrupt is returned by Download when the blob service
	// served bytes that are not the sender's file: a wrong length, a
	// digest that does not match the pointer, a chunk that does not open,
	// or padding that is not zero (spec/attachments.md §2.5). Nothing of
	// the file was written.
	ErrAttachmentCorrupt = errors.New("client: attachment corrupt")
	// ErrAttachmentGone is returned by Download when the blob service
	// does not have the blob: it expired, or never existed.
	ErrAttachmentGone = errors.New("client: attachment no longer on the blob service")
	// ErrFileRefused is returned by SendFile (and reported by
	// EventFileFailed) when the blob service refused the file for good:
	// too large, or over the account's quota.
	ErrFileRefused = errors.New("client: file refused by the blob service")
	// ErrFileTransferUnsupported is returned by SendFile, SendGroupFile,
	// Download and ResumeFiles in the browser build (GOOS=js): a transfer
	// goes through a spool file of the store directory, which makes it
	// resumable and lets Download check the whole file before writing any
	// of it, and the browser has no file system. It wraps
	// errors.ErrUnsupported.
	ErrFileTransferUnsupported = fmt.Errorf("client: file transfer is not supported in the browser: %w", errors.ErrUnsupported)
)

// Attachment is a file a message points to (spec/attachments.md §3).
// Download fetches it.
type Attachment struct {
	BlobID [content.BlobIDSize]byte
	// Key opens the file; it is as secret as the message.
	Key    [content.AttachmentKeySize]byte
	Digest [content.AttachmentDigest]byte
	// Size is the file's length in bytes.
	Size int64
	// ContentType, FileName and Caption are as the sender gave them.
	// FileName is a suggestion only: never use it as a path without
	// SafeFileName.
	ContentType string
	FileName    string
	Caption     string
}

// AttachmentOf returns the attachment a Content of kind attachment points
// to, or nil for any other kind.
func AttachmentOf(ct *content.Content) *Attachment {
	a := ct.GetAttachment()
	if ct == nil || ct.Content == nil || a == nil {
		return nil
	}
	var out Attachment
	copy(out.BlobID[:], a.GetBlobId())
	copy(out.Key[:], a.GetKey())
	copy(out.Digest[:], a.GetDigest())
	out.Size = int64(a.GetSize())
	out.ContentType, out.FileName, out.Caption = a.GetContentType(), a.GetFileName(), a.GetCaption()
	return &out
}

// FileInfo describes a file for SendFile.
type FileInfo struct {
	// Name is the file name the recipients are offered (not a path: the
	// last element is taken), MIME its content type; both may be empty.
	Name string
	MIME string
	// Size is the file's length, or -1 when unknown; when known, a reader
	// that yields another length is an error.
	Size int64
	// Caption is shown with the file (UTF-8, at most 16384 bytes).
	Caption string
}

// ProgressFunc is told how many bytes of total are done. It is called from
// the goroutine doing the work and must not block.
type ProgressFunc func(done, total int64)

// WithProgress makes SendFile report the encryption (done counting the
// file's bytes) and then the upload (the ciphertext's bytes) to f.
func WithProgress(f ProgressFunc) SendOption {
	return func(o *sendOptions) { o.progress = f }
}

// spoolDir is the store directory's subdirectory of spool files.
const spoolDir = "spool"

// maxBusyWaits is how many times an upload waits for another request
// that holds it (1 s, 2 s, … between): about two minutes in all.
const maxBusyWaits = 15

// uploadRetry is how often the background upload loop tries again.
const uploadRetry = 30 * time.Second

// SendFile sends the file r yields to handle (spec/attachments.md §6.1):
// it encrypts it into a spool file of the store directory, uploads the
// ciphertext to the blob service, and sends the pointer as a message
// (kind attachment) to every device of handle and this account's other
// devices. It returns once the relay has stored the message, as Send
// does. WithReplyTo, WithMessageID and WithProgress apply.
//
// Once SendFile has recorded the file (its spool is durable), the file is
// not lost: if ctx ends, the connection breaks or the process stops, the
// upload resumes where it stopped, in the background of this client or
// of the next Open of the store, and the message is sent after it. Such a
// SendFile returns the message id and an error wrapping ErrQueued. A
// refusal by the blob service (ErrFileRefused) or by the send (a blocked
// or unknown account, a changed key) ends it; EventFileFailed reports that
// for uploads finished in the background.
func (c *Client) SendFile(ctx context.Context, handle string, r io.Reader, info FileInfo, opts ...SendOption) (MessageID, error) {
	if keys.CheckHandle(handle) != nil {
		return MessageID{}, fmt.Errorf("%w: %q", ErrInvalidHandle, handle)
	}
	return c.sendFile(ctx, handle, nil, r, info, opts)
}

// SendGroupFile sends a file to group gid as SendFile does to an account.
func (c *Client) SendGroupFile(ctx context.Context, gid GroupID, r io.Reader, info FileInfo, opts ...SendOption) (MessageID, error) {
	return c.sendFile(ctx, "", &gid, r, info, opts)
}

func (c *Client) sendFile(ctx context.Context, handle string, gid *GroupID, r io.Reader, info FileInfo, opts []SendOption) (MessageID, error) {
	if err := spoolSupported(); err != nil {
		return MessageID{}, err
	}
	var o sendOptions
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	msgID, err := c.spoolFile(ctx, handle, gid, r, info, &o)
	if err != nil {
		return MessageID{}, err
	}
	if err := c.finishUpload(ctx, msgID, o.progress); err != nil {
		if errors.Is(err, ErrQueued) || isPermanentFileError(err) {
			return msgID, err
		}
		return msgID, fmt.Errorf("%w: %w", ErrQueued, err)
	}
	return msgID, nil
}

// spoolFile encrypts the file into a spool file and records the upload
// (spec/attachments.md §6.1 step 1).
func (c *Client) spoolFile(ctx context.Context, handle string, gid *GroupID, r io.Reader, info FileInfo, o *sendOptions) (MessageID, error) {
	ctx, _, done, err := c.beginRegistered(ctx)
	if err != nil {
		return MessageID{}, err
	}
	defer done()
	if info.Size > stream.MaxFileSize {
		return MessageID{}, fmt.Errorf("%w: a file of %d bytes, at most %d", ErrTooLarge, info.Size, int64(stream.MaxFileSize))
	}
	msgID, err := o.messageID()
	if err != nil {
		return MessageID{}, err
	}
	name := info.Name
	if i := lastSeparator(name); i >= 0 {
		name = name[i+1:]
	}
	att := &contentpb.Attachment{
		BlobId: make([]byte, content.BlobIDSize), ContentType: info.MIME, FileName: name, Caption: info.Caption,
	}
	if !utf8.ValidString(name) || !utf8.ValidString(info.Caption) {
		return MessageID{}, fmt.Errorf("%w: a file name or caption that is not UTF-8", ErrInvalidContent)
	}
	ct := &content.Content{Content: &contentpb.Content{Kind: &contentpb.Content_Attachment{Attachment: att}}}
	if o.hasReply {
		ct.ReplyTo = &contentpb.ReplyTo{MessageId: o.replyTo[:], Sender: o.replySender}
	}

	dir := filepath.Join(c.store.Dir(), spoolDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return MessageID{}, fmt.Errorf("client: spool directory: %w", err)
	}
	f, err := os.CreateTemp(dir, "up-*")
	if err != nil {
		return MessageID{}, fmt.Errorf("client: spool file: %w", err)
	}
	spool := filepath.Base(f.Name())
	keep := false
	defer func() {
		f.Close()
		if !keep {
			os.Remove(f.Name())
		}
	}()
	var key [stream.KeySize]byte
	if _, err := rand.Read(key[:]); err != nil {
		return MessageID{}, err
	}
	defer clear(key[:])
	h := sha256.New()
	spw := newSpoolWriter(f, h)
	defer spw.Close()
	sw := stream.NewWriter(&key, spw)
	total := info.Size
	n, err := io.Copy(sw, &progressReader{ctx: ctx, r: r, progress: o.progress, total: total})
	if err != nil {
		return MessageID{}, fmt.Errorf("client: reading the file: %w", err)
	}
	if info.Size >= 0 && n != info.Size {
		return MessageID{}, fmt.Errorf("client: the file has %d bytes, not the %d its FileInfo gives", n, info.Size)
	}
	if n > stream.MaxFileSize {
		return MessageID{}, fmt.Errorf("%w: a file of more than %d bytes", ErrTooLarge, int64(stream.MaxFileSize))
	}
	if err := sw.Close(); err != nil {
		return MessageID{}, fmt.Errorf("client: encrypting the file: %w", err)
	}
	if spw.n != stream.CiphertextSize(n) {
		return MessageID{}, fmt.Errorf("client: encrypted %d bytes, want %d", spw.n, stream.CiphertextSize(n))
	}
	if err := spw.Close(); err != nil {
		return MessageID{}, fmt.Errorf("client: spool file: %w", err)
	}
	// Not fsynced: the upload reads it from the page cache, and a process
	// that dies leaves it whole. After a crash of the system an upload
	// resumed by another process checks its digest first
	// (spec/attachments.md §6.1).
	att.Key = append([]byte(nil), key[:]...)
	att.Digest = h.Sum(nil)
	att.Size = uint64(n)
	pointer, err := content.Marshal(ct)
	clear(att.Key)
	if err != nil {
		return MessageID{}, fmt.Errorf("%w: %w", ErrInvalidContent, err)
	}
	defer clear(pointer)
	row := localstore.AttachUpload{
		ID: msgID[:], Conversation: handle, Spool: spool, Pointer: pointer,
		CipherSize: spw.n, Created: time.Now(),
	}
	if gid != nil {
		row.Group = gid[:]
	}
	if err := c.store.Update(ctx, func(tx localstore.Tx) error {
		if _, err := tx.AttachUploadRow(msgID[:]); err == nil {
			return fmt.Errorf("%w: a file with this id is being sent", ErrMessageIDReused)
		}
		return tx.PutAttachUpload(row)
	}); err != nil {
		return MessageID{}, storeError(err)
	}
	keep = true
	c.setSpooled(msgID, true)
	return msgID, nil
}

// finishUpload uploads a recorded file and sends its pointer
// (spec/attachments.md §6.1 steps 2 and 3). One upload of a file runs at a
// time; a second caller waits for the first.
func (c *Client) finishUpload(ctx context.Context, msgID MessageID, progress ProgressFunc) error {
	release, err := c.claimUpload(ctx, msgID)
	if err != nil {
		return err
	}
	defer release()
	row, blobID, err := c.uploadBlob(ctx, msgID, progress)
	if errors.Is(err, localstore.ErrNotFound) {
		return nil // sent meanwhile
	}
	if err != nil {
		if isPermanentFileError(err) {
			c.failUpload(msgID, row, err)
		}
		return err
	}
	err = c.sendPointer(ctx, msgID, row, blobID)
	if err != nil && isPermanentFileError(err) {
		c.failUpload(msgID, row, err)
	}
	return err
}

// claimUpload makes this goroutine the one uploading msgID until release.
func (c *Client) claimUpload(ctx context.Context, msgID MessageID) (func(), error) {
	for {
		c.mu.Lock()
		if c.uploading == nil {
			c.uploading = map[MessageID]chan struct{}{}
		}
		busy, ok := c.uploading[msgID]
		if !ok {
			ch := make(chan struct{})
			c.uploading[msgID] = ch
			c.mu.Unlock()
			return func() {
				c.mu.Lock()
				delete(c.uploading, msgID)
				c.mu.Unlock()
				close(ch)
			}, nil
		}
		c.mu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// uploadBlob uploads the spool of a recorded file and returns the blob id.
func (c *Client) uploadBlob(ctx context.Context, msgID MessageID, progress ProgressFunc) (localstore.AttachUpload, [content.BlobIDSize]byte, error) {
	var blobID [content.BlobIDSize]byte
	ctx, _, done, err := c.beginRegistered(ctx)
	if err != nil {
		return localstore.AttachUpload{}, blobID, err
	}
	defer done()
	var row localstore.AttachUpload
	if err := c.store.View(ctx, func(tx localstore.Tx) error {
		row, err = tx.AttachUploadRow(msgID[:])
		return err
	}); err != nil {
		return row, blobID, err
	}
	if row.Failed != "" {
		return row, blobID, fmt.Errorf("%w: %s", ErrFileRefused, row.Failed)
	}
	ct, err := content.Parse(row.Pointer)
	if err != nil {
		return row, blobID, fmt.Errorf("%w: stored file pointer: %v", ErrCorrupt, err)
	}
	var digest [32]byte
	copy(digest[:], ct.GetAttachment().GetDigest())
	f, err := os.Open(filepath.Join(c.store.Dir(), spoolDir, row.Spool))
	if err != nil {
		return row, blobID, fmt.Errorf("%w: the spool file of a file being sent: %v", ErrCorrupt, err)
	}
	defer f.Close()
	c.mu.Lock()
	whole := c.spooled[msgID]
	c.mu.Unlock()
	if !whole {
		// Written by an earlier process: the system may have crashed
		// before the spool reached the disk (spec/attachments.md §6.1).
		if err := checkSpool(f, row.CipherSize, digest); err != nil {
			return row, blobID, err
		}
		c.setSpooled(msgID, true)
	}
	bc, err := c.blobClient()
	if err != nil {
		return row, blobID, err
	}
	var (
		uploadID [32]byte
		offset   int64
		partSize int64
	)
	create := func() (bool, error) {
		cr, err := bc.Create(ctx, row.CipherSize, digest)
		if err != nil {
			return false, blobError(err)
		}
		if cr.BlobID != nil {
			blobID = *cr.BlobID
			return true, nil
		}
		uploadID, offset, partSize = cr.UploadID, cr.Offset, cr.PartSize
		row.UploadID = uploadID[:]
		return false, c.store.Update(ctx, func(tx localstore.Tx) error {
			return tx.SetAttachUploadProgress(msgID[:], uploadID[:], offset)
		})
	}
	if row.UploadID == nil {
		if fin, err := create(); err != nil || fin {
			return row, blobID, err
		}
	} else {
		copy(uploadID[:], row.UploadID)
		var err error
		offset, _, partSize, err = bc.Offset(ctx, uploadID)
		if errors.Is(err, blobclient.ErrUnknownUpload) {
			// Gone: expired, or completed by a request whose answer was
			// lost. Creating it again finds the blob if it is complete
			// (the per-account dedup, spec/attachments.md §4.3).
			if fin, err := create(); err != nil || fin {
				return row, blobID, err
			}
		} else if err != nil {
			return row, blobID, blobError(err)
		}
	}
	busy := 0
	for {
		if progress != nil {
			progress(offset, row.CipherSize)
		}
		n := min(partSize, row.CipherSize-offset)
		body := &progressReader{ctx: ctx, r: io.NewSectionReader(f, offset, n), progress: progress, base: offset, total: row.CipherSize}
		newOffset, id, err := bc.PutPart(ctx, uploadID, offset, body, n)
		var be *blobclient.Error
		if errors.As(err, &be) && be.Code == "offset_mismatch" {
			offset = be.Offset
			continue
		}
		if errors.Is(err, blobclient.ErrUploadBusy) && busy < maxBusyWaits {
			// Another request holds the upload (an earlier attempt of
			// this device whose connection broke, still running at the
			// service): wait, then ask where it stands.
			busy++
			if err := sleep(ctx, time.Duration(busy)*time.Second); err != nil {
				return row, blobID, err
			}
			if offset, _, _, err = bc.Offset(ctx, uploadID); err != nil {
				return row, blobID, blobError(err)
			}
			continue
		}
		if err != nil {
			return row, blobID, blobError(err)
		}
		if id != nil {
			blobID = *id
			return row, blobID, nil
		}
		offset = newOffset
		if err := c.store.Update(ctx, func(tx localstore.Tx) error {
			return tx.SetAttachUploadProgress(msgID[:], uploadID[:], offset)
		}); err != nil {
			return row, blobID, storeError(err)
		}
	}
}

// setSpooled records whether this process knows msgID's spool whole
// (it wrote or checked it).
func (c *Client) setSpooled(msgID MessageID, whole bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !whole {
		delete(c.spooled, msgID)
		return
	}
	if c.spooled == nil {
		c.spooled = map[MessageID]bool{}
	}
	c.spooled[msgID] = true
}

// checkSpool checks that a spool file holds size bytes with the digest.
func checkSpool(f *os.File, size int64, digest [32]byte) error {
	h := sha256.New()
	n, err := io.Copy(h, io.NewSectionReader(f, 0, size+1))
	if err != nil {
		return fmt.Errorf("client: reading a spool file: %w", err)
	}
	if n != size || !bytes.Equal(h.Sum(nil), digest[:]) {
		return fmt.Errorf("%w: the spool file of a file being sent is damaged (a system crash before it reached the disk?); send the file again", ErrCorrupt)
	}
	return nil
}

// sendPointer sends the pointer of an uploaded file and ends its record in
// the transaction that queues the message (spec/attachments.md §6.1 step 3).
func (c *Client) sendPointer(ctx context.Context, msgID MessageID, row localstore.AttachUpload, blobID [content.BlobIDSize]byte) error {
	ct, err := content.Parse(row.Pointer)
	if err != nil {
		return fmt.Errorf("%w: stored file pointer: %v", ErrCorrupt, err)
	}
	ct.GetAttachment().BlobId = blobID[:]
	defer clear(ct.GetAttachment().GetKey())
	spool := filepath.Join(c.store.Dir(), spoolDir, row.Spool)
	end := func(tx localstore.Tx) error { return tx.DeleteAttachUpload(msgID[:]) }
	if row.Group != nil {
		var gid GroupID
		copy(gid[:], row.Group)
		_, err = c.sendGroup(ctx, gid, ct, &msgID, end)
	} else {
		_, err = c.sendContent(ctx, row.Conversation, ct, true, func(tx localstore.Tx, _ MessageID, _ time.Time) error {
			return end(tx)
		}, []SendOption{WithMessageID(msgID)})
	}
	if gone := c.uploadRecorded(msgID); !gone {
		return err
	}
	os.Remove(spool)
	c.setSpooled(msgID, false)
	return err
}

// uploadRecorded reports whether the file msgID is no longer recorded as
// being sent (its pointer is queued).
func (c *Client) uploadRecorded(msgID MessageID) bool {
	gone := false
	err := c.store.View(c.ctx, func(tx localstore.Tx) error {
		_, err := tx.AttachUploadRow(msgID[:])
		gone = errors.Is(err, localstore.ErrNotFound)
		return nil
	})
	return err == nil && gone
}

// failUpload records that a file will not be sent and why, deletes its
// spool and reports EventFileFailed.
func (c *Client) failUpload(msgID MessageID, row localstore.AttachUpload, cause error) {
	err := c.store.Update(c.ctx, func(tx localstore.Tx) error {
		return tx.DeleteAttachUpload(msgID[:])
	})
	if err != nil {
		c.log.Warn("client: recording a failed file", "err", err)
		return
	}
	if row.Spool != "" {
		os.Remove(filepath.Join(c.store.Dir(), spoolDir, row.Spool))
	}
	c.setSpooled(msgID, false)
	c.emit(Event{Kind: EventFileFailed, Handle: row.Conversation, Messages: []MessageID{msgID}, Err: cause})
}

// isPermanentFileError reports whether a file's send cannot succeed by
// trying again.
func isPermanentFileError(err error) bool {
	for _, e := range []error{ErrFileRefused, ErrKeyChanged, ErrBlocked, ErrUnknownHandle, ErrInvalidHandle, ErrInvalidContent, ErrGroupRefused, ErrSecurity, ErrCorrupt} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// blobError maps the blob service's refusals to the client's errors.
func blobError(err error) error {
	var be *blobclient.Error
	if errors.As(err, &be) {
		switch be.Code {
		case "quota_exceeded", "blob_too_large", "digest_mismatch":
			return fmt.Errorf("%w: %w", ErrFileRefused, err)
		}
	}
	return err
}

// resumeUploads sends, in the background, the files recorded by an
// earlier SendFile that did not finish, trying again every uploadRetry.
func (c *Client) resumeUploads() {
	defer c.wg.Done()
	if spoolSupported() != nil {
		return // no spool, so no upload was ever recorded
	}
	if err := c.cleanSpool(c.ctx); err != nil && c.ctx.Err() == nil {
		c.log.Warn("client: cleaning the spool directory", "err", err)
	}
	t := time.NewTicker(uploadRetry)
	defer t.Stop()
	for {
		var rows []localstore.AttachUpload
		err := c.store.View(c.ctx, func(tx localstore.Tx) error {
			var err error
			rows, err = tx.AttachUploads()
			return err
		})
		if err != nil && c.ctx.Err() == nil {
			c.log.Warn("client: listing files to send", "err", err)
		}
		for _, r := range rows {
			var id MessageID
			copy(id[:], r.ID)
			if err := c.finishUpload(c.ctx, id, nil); err != nil && c.ctx.Err() == nil {
				c.log.Info("client: sending a file; will retry", "err", err)
			}
		}
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// cleanSpool deletes the spool files the store no longer refers to (left
// by a crash before the file was recorded, or after it was sent), and
// downloads not finished within a month.
func (c *Client) cleanSpool(ctx context.Context) error {
	dir := filepath.Join(c.store.Dir(), spoolDir)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var used map[string]bool
	err = c.store.Update(ctx, func(tx localstore.Tx) error {
		old, err := tx.AttachDownloadsBefore(time.Now().Add(-30 * 24 * time.Hour))
		if err != nil {
			return err
		}
		for _, d := range old {
			if err := tx.DeleteAttachDownload(d.BlobID); err != nil {
				return err
			}
		}
		used, err = tx.SpoolFiles()
		return err
	})
	if err != nil {
		return err
	}
	for _, e := range ents {
		// A spool being written now is not recorded yet.
		if info, err := e.Info(); err != nil || time.Since(info.ModTime()) < time.Hour {
			continue
		}
		if !used[e.Name()] {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return nil
}

// blobClient returns the client of the blob service (Config.Blobs), whose
// uploads are authorised by tokens of audience "blobs:<key server name>"
// (spec/attachments.md §4.2).
func (c *Client) blobClient() (*blobclient.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.blobs != nil {
		return c.blobs, nil
	}
	tokens := c.tokens
	aud := "blobs:" + c.cfg.KeyServerName
	bc, err := blobclient.New(c.cfg.Blobs, newHTTPClient(c.tls, c.cfg.Dial), func(ctx context.Context) (string, error) {
		return tokens.Get(ctx, aud)
	})
	if err != nil {
		return nil, err
	}
	c.blobs = bc
	return bc, nil
}

// progressReader reports reads to a ProgressFunc, at most every 256 KiB,
// and stops when ctx ends.
type progressReader struct {
	ctx      context.Context
	r        io.Reader
	progress ProgressFunc
	base     int64 // added to the count
	total    int64
	n, last  int64
}

func (r *progressReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := r.r.Read(p)
	r.n += int64(n)
	if r.progress != nil && (r.n-r.last >= 256<<10 || (err != nil && r.n != r.last)) {
		r.last = r.n
		r.progress(r.base+r.n, r.total)
	}
	return n, err
}

// lastSeparator returns the index of the last / or \ in s, or -1.
func lastSeparator(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' || s[i] == '\\' {
			return i
		}
	}
	return -1
}

// PendingFile is a file SendFile recorded that is not sent yet.
type PendingFile struct {
	ID MessageID
	// To is the recipient account; Group the group (zero for one-to-one).
	To    string
	Group GroupID
	// Name and Size are the file's; Uploaded and CipherSize how much of
	// its ciphertext the blob service holds.
	Name       string
	Size       int64
	Uploaded   int64
	CipherSize int64
	Created    time.Time
}

// PendingFiles lists the files SendFile recorded that are not sent yet,
// oldest first: their uploads go on in the background while the client
// runs.
func (c *Client) PendingFiles(ctx context.Context) ([]PendingFile, error) {
	ctx, done, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	var rows []localstore.AttachUpload
	if err := c.store.View(ctx, func(tx localstore.Tx) error {
		var err error
		rows, err = tx.AttachUploads()
		return err
	}); err != nil {
		return nil, storeError(err)
	}
	out := make([]PendingFile, 0, len(rows))
	for _, r := range rows {
		p := PendingFile{To: r.Conversation, Uploaded: r.Uploaded, CipherSize: r.CipherSize, Created: r.Created}
		copy(p.ID[:], r.ID)
		copy(p.Group[:], r.Group)
		if ct, err := content.Parse(r.Pointer); err == nil {
			p.Name, p.Size = ct.GetAttachment().GetFileName(), int64(ct.GetAttachment().GetSize())
			clear(ct.GetAttachment().GetKey())
		}
		clear(r.Pointer)
		out = append(out, p)
	}
	return out, nil
}

// ResumeFiles finishes, now, the uploads and sends of every pending file
// (PendingFiles), reporting each upload's progress to progress if not
// nil, and returns the first error (the other files go on). A background
// job or a command-line tool calls it before it exits.
func (c *Client) ResumeFiles(ctx context.Context, progress func(id MessageID, done, total int64)) error {
	if err := spoolSupported(); err != nil {
		return err
	}
	pending, err := c.PendingFiles(ctx)
	if err != nil {
		return err
	}
	var first error
	for _, p := range pending {
		var f ProgressFunc
		if progress != nil {
			id := p.ID
			f = func(done, total int64) { progress(id, done, total) }
		}
		if err := c.finishUpload(ctx, p.ID, f); err != nil && first == nil {
			first = fmt.Errorf("client: file %s: %w", p.ID, err)
		}
	}
	return first
}
