package client

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sealpost/sealpost/blobs/blobclient"
	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/crypto/stream"
)

// DownloadOption configures Download.
type DownloadOption func(*downloadOptions)

type downloadOptions struct {
	progress ProgressFunc
}

// DownloadProgress makes Download report the ciphertext fetched (done of
// the blob's size) to f.
func DownloadProgress(f ProgressFunc) DownloadOption {
	return func(o *downloadOptions) { o.progress = f }
}

// Download fetches the file att points to from the blob service and
// writes it to w (spec/attachments.md §6.3). The ciphertext goes to a
// spool file of the store directory first, each chunk checked as it
// arrives; only once all of it is in and its SHA-256 matches the pointer
// is the file decrypted to w. So w receives the whole, authentic file or
// nothing: ErrAttachmentCorrupt when the service served other bytes,
// ErrAttachmentGone when it no longer has the blob.
//
// A download that stops (ctx ends, the connection breaks, the process
// dies) keeps what it has: the next Download of the same attachment, in
// this run or after the next Open, resumes from there.
func (c *Client) Download(ctx context.Context, att *Attachment, w io.Writer, opts ...DownloadOption) error {
	if err := spoolSupported(); err != nil {
		return err
	}
	if att == nil {
		return fmt.Errorf("%w: no attachment", ErrInvalidContent)
	}
	if att.Size < 0 || att.Size > stream.MaxFileSize {
		return fmt.Errorf("%w: an attachment of %d bytes", ErrInvalidContent, att.Size)
	}
	var o downloadOptions
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	ctx, done, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer done()

	dir := filepath.Join(c.store.Dir(), spoolDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("client: spool directory: %w", err)
	}
	var row localstore.AttachDownload
	if err := c.store.Update(ctx, func(tx localstore.Tx) error {
		var err error
		row, err = tx.PutAttachDownload(localstore.AttachDownload{
			BlobID: att.BlobID[:], Spool: "dl-" + hex.EncodeToString(att.BlobID[:]), Created: time.Now(),
		})
		return err
	}); err != nil {
		return storeError(err)
	}
	path := filepath.Join(dir, row.Spool)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("client: spool file: %w", err)
	}
	defer f.Close()
	forget := func() {
		f.Close()
		os.Remove(path)
		if err := c.store.Update(c.ctx, func(tx localstore.Tx) error { return tx.DeleteAttachDownload(att.BlobID[:]) }); err != nil {
			c.log.Warn("client: forgetting a download", "err", err)
		}
	}

	size := stream.CiphertextSize(att.Size)
	key := att.Key
	defer clear(key[:])
	v, err := newChunkVerifier(&key, att.Size)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidContent, err)
	}
	// What an earlier attempt left: every chunk checked again (a crash
	// may have cut or damaged the end), the spool cut after the last good one.
	have, err := v.resume(f, o.progress)
	if err != nil {
		return err
	}
	if have < size {
		bc, err := c.blobClient()
		if err != nil {
			return err
		}
		body, total, err := bc.Get(ctx, att.BlobID, have)
		if errors.Is(err, blobclient.ErrNotFound) {
			forget()
			return fmt.Errorf("%w: %v", ErrAttachmentGone, err)
		}
		if err != nil {
			return err
		}
		defer body.Close()
		if total != size {
			forget()
			return fmt.Errorf("%w: the blob has %d bytes, the file needs %d", ErrAttachmentCorrupt, total, size)
		}
		if _, err := f.Seek(have, io.SeekStart); err != nil {
			return err
		}
		if err := v.fetch(ctx, f, body, have, o.progress); err != nil {
			if errors.Is(err, ErrAttachmentCorrupt) {
				forget()
			}
			return err
		}
	}
	if subtle.ConstantTimeCompare(v.h.Sum(nil), att.Digest[:]) != 1 {
		forget()
		return fmt.Errorf("%w: the digest does not match", ErrAttachmentCorrupt)
	}
	r, err := stream.NewReader(&key, f, att.Size)
	if err != nil {
		forget()
		return fmt.Errorf("%w: %v", ErrAttachmentCorrupt, err)
	}
	if _, err := io.Copy(w, r); err != nil {
		if errors.Is(err, stream.ErrCorrupt) {
			forget()
			return fmt.Errorf("%w: %v", ErrAttachmentCorrupt, err)
		}
		return fmt.Errorf("client: writing the file: %w", err)
	}
	forget()
	return nil
}

// chunkVerifier checks a ciphertext chunk by chunk as it is written to the
// spool, and hashes it.
type chunkVerifier struct {
	open  *stream.ChunkOpener
	size  int64 // size(C)
	h     hash.Hash
	buf   []byte
	plain []byte
}

func newChunkVerifier(key *[stream.KeySize]byte, n int64) (*chunkVerifier, error) {
	o, err := stream.NewChunkOpener(key, n)
	if err != nil {
		return nil, err
	}
	return &chunkVerifier{
		open: o, size: stream.CiphertextSize(n), h: sha256.New(),
		buf: make([]byte, stream.SealedChunkSize), plain: make([]byte, 0, stream.ChunkSize),
	}, nil
}

// check opens chunk i (sealed) and hashes it.
func (v *chunkVerifier) check(i int64, sealed []byte) error {
	if _, err := v.open.Open(v.plain[:0], sealed, i); err != nil {
		return fmt.Errorf("%w: chunk %d: %v", ErrAttachmentCorrupt, i, err)
	}
	v.h.Write(sealed)
	return nil
}

// chunkLen is the length of sealed chunk i.
func (v *chunkVerifier) chunkLen(i int64) int64 {
	return int64(v.open.SealedLen(i))
}

// resume checks the chunks already in the spool and cuts it after the last
// good one; it returns how many bytes remain.
func (v *chunkVerifier) resume(f *os.File, progress ProgressFunc) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	var have int64
	for i := int64(0); have < min(st.Size(), v.size); i++ {
		n := v.chunkLen(i)
		if have+n > st.Size() {
			break
		}
		if _, err := f.ReadAt(v.buf[:n], have); err != nil {
			return 0, fmt.Errorf("client: spool file: %w", err)
		}
		if v.check(i, v.buf[:n]) != nil {
			break
		}
		have += n
	}
	if have != st.Size() {
		if err := f.Truncate(have); err != nil {
			return 0, fmt.Errorf("client: spool file: %w", err)
		}
	}
	if progress != nil {
		progress(have, v.size)
	}
	return have, nil
}

// fetch reads the rest of the ciphertext from body into f, checking each
// chunk before it is written.
func (v *chunkVerifier) fetch(ctx context.Context, f *os.File, body io.Reader, have int64, progress ProgressFunc) error {
	for i := have / stream.SealedChunkSize; have < v.size; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := v.chunkLen(i)
		if _, err := io.ReadFull(body, v.buf[:n]); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return fmt.Errorf("client: the download ended early: %w", err)
			}
			return err
		}
		if err := v.check(i, v.buf[:n]); err != nil {
			return err
		}
		if _, err := f.Write(v.buf[:n]); err != nil {
			return fmt.Errorf("client: spool file: %w", err)
		}
		have += n
		if progress != nil && (i%16 == 15 || have == v.size) {
			progress(have, v.size)
		}
	}
	return nil
}

// SafeFileName turns a file name from an attachment pointer into one that
// is safe to create in a directory the user chose (spec/attachments.md
// §6.4): only its last path element, control and non-printable characters
// and separators replaced by '_', no leading dots, at most 255 bytes, and
// "file" when nothing is left. It never returns a path.
func SafeFileName(name string) string {
	if i := lastSeparator(name); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	for _, r := range name {
		switch {
		case r == utf8.RuneError, r == '/', r == '\\', r == ':' || r == '*' || r == '?' || r == '"' || r == '<' || r == '>' || r == '|':
			b.WriteRune('_')
		case !unicode.IsPrint(r) || unicode.Is(unicode.Bidi_Control, r):
			b.WriteRune('_')
		default:
			b.WriteRune(r)
		}
	}
	out := strings.TrimLeft(b.String(), ". ")
	for len(out) > 255 {
		_, n := utf8.DecodeLastRuneInString(out)
		out = out[:len(out)-n]
	}
	out = strings.TrimRight(out, ". ")
	if out == "" {
		return "file"
	}
	return out
}
