// Package s3 is the blob service's S3-compatible byte storage: a
// store.Engine on one bucket of an S3 server, through minio-go's Core API
// (spec/attachments.md §5). An upload is an S3 multipart upload: its
// handle is the upload id, a part is an uploaded part (durable when S3
// answers), completion is CompleteMultipartUpload, atomic on the server.
//
// Memory: a part streams from the caller's reader to the connection. The
// reader is not seekable, so minio-go neither buffers it nor retries the
// request (it retries only seekable bodies), and it computes no digest of
// the whole part first: over HTTP it signs the payload as it goes
// (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, one 64 KiB chunk buffer), over
// HTTPS it sends it UNSIGNED-PAYLOAD under TLS. So memory per part is a
// few 64 KiB buffers whatever the part size. A failed part is not
// retried here: the service's client sends it again.
package s3

import (
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/sealpost/sealpost/blobs/store"
	"github.com/sealpost/sealpost/blobs/store/internal/partio"
)

// Engine is a store.Engine on one S3 bucket.
type Engine struct {
	core      minio.Core
	bucket    string
	prefix    string
	transport *http.Transport
}

var _ store.Engine = (*Engine)(nil)

// Open validates cfg, connects, and checks that the bucket exists.
func Open(ctx context.Context, cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tr, err := minio.DefaultTransport(cfg.Secure)
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	if cfg.Secure {
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{}
		}
		tr.TLSClientConfig.MinVersion = tls.VersionTLS12
		if cfg.CAFile != "" {
			roots, err := loadRoots(cfg.CAFile)
			if err != nil {
				return nil, err
			}
			tr.TLSClientConfig.RootCAs = roots
		}
	}
	core, err := minio.NewCore(cfg.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:    cfg.Secure,
		Region:    cfg.Region,
		Transport: tr,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	ok, err := core.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("s3: checking bucket %s at %s: %w", cfg.Bucket, cfg.Endpoint, err)
	}
	if !ok {
		return nil, fmt.Errorf("s3: no bucket %s at %s", cfg.Bucket, cfg.Endpoint)
	}
	return &Engine{core: *core, bucket: cfg.Bucket, prefix: cfg.Prefix, transport: tr}, nil
}

// Close closes idle connections.
func (e *Engine) Close() error {
	e.transport.CloseIdleConnections()
	return nil
}

// object returns key's object name, or ErrInvalid.
func (e *Engine) object(key string) (string, error) {
	if !store.ValidKey(key) {
		return "", fmt.Errorf("%w: key %q", store.ErrInvalid, key)
	}
	return e.prefix + key, nil
}

// s3Error maps an S3 error to the store's: a missing object or upload is
// ErrNotFound, a range outside the object ErrRange.
func s3Error(op string, err error) error {
	var r minio.ErrorResponse
	if errors.As(err, &r) {
		switch r.Code {
		case "NoSuchKey", "NoSuchUpload":
			return fmt.Errorf("%w: %s: %v", store.ErrNotFound, op, err)
		case "InvalidRange":
			return fmt.Errorf("%w: %s: %v", store.ErrRange, op, err)
		}
	}
	return fmt.Errorf("s3: %s: %w", op, err)
}

func errCode(err error) string {
	var r minio.ErrorResponse
	if errors.As(err, &r) {
		return r.Code
	}
	return ""
}

// CreateUpload starts a multipart upload.
func (e *Engine) CreateUpload(ctx context.Context, key string) (string, error) {
	name, err := e.object(key)
	if err != nil {
		return "", err
	}
	id, err := e.core.NewMultipartUpload(ctx, e.bucket, name, minio.PutObjectOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return "", s3Error("creating upload", err)
	}
	return id, nil
}

// PutPart uploads the part, streaming r through a partio.Reader: a body
// that is short, long, broken or cancelled fails the request before its
// last byte is sent, so S3 keeps nothing of it.
func (e *Engine) PutPart(ctx context.Context, key, handle string, n int, r io.Reader, size int64) (store.Part, error) {
	name, err := e.object(key)
	if err != nil {
		return store.Part{}, err
	}
	if n < 1 || n > store.MaxParts || size < 0 {
		return store.Part{}, fmt.Errorf("%w: part %d of %d bytes", store.ErrInvalid, n, size)
	}
	if err := ctx.Err(); err != nil {
		return store.Part{}, err
	}
	if handle == "" {
		return store.Part{}, fmt.Errorf("%w: empty upload handle", store.ErrNotFound)
	}
	pr := partio.NewReader(ctx, r, size)
	if size == 0 {
		// minio-go sends no body, so nothing would read r: check its
		// end here.
		if _, err := pr.Read(make([]byte, 1)); err != io.EOF {
			return store.Part{}, err
		}
	}
	p, err := e.core.PutObjectPart(ctx, e.bucket, name, handle, n, pr, size, minio.PutObjectPartOptions{})
	if err != nil {
		// The cause is the body's failure, or ctx's, if there was one.
		if perr := pr.Err(); perr != nil {
			return store.Part{}, perr
		}
		if cerr := ctx.Err(); cerr != nil {
			return store.Part{}, cerr
		}
		return store.Part{}, s3Error(fmt.Sprintf("part %d", n), err)
	}
	// S3 answered: the part is stored, even if ctx ended since.
	if !pr.Complete() {
		return store.Part{}, fmt.Errorf("s3: part %d: stored before its body was read to the end", n)
	}
	return store.Part{Number: n, Size: size, Tag: p.ETag}, nil
}

// CompleteUpload completes the multipart upload. If S3 no longer knows
// the upload (NoSuchUpload) and the object is what these parts complete
// to, an earlier call completed it: nil. "What these parts complete to" is
// the object's ETag matching the multipart ETag of the parts (when their
// tags are MD5s), else the object having their total size.
func (e *Engine) CompleteUpload(ctx context.Context, key, handle string, parts []store.Part) error {
	name, err := e.object(key)
	if err != nil {
		return err
	}
	if err := store.CheckParts(parts); err != nil {
		return err
	}
	if handle == "" {
		return fmt.Errorf("%w: empty upload handle", store.ErrNotFound)
	}
	cparts := make([]minio.CompletePart, len(parts))
	var total int64
	for i, p := range parts {
		cparts[i] = minio.CompletePart{PartNumber: p.Number, ETag: p.Tag}
		total += p.Size
	}
	_, err = e.core.CompleteMultipartUpload(ctx, e.bucket, name, handle, cparts, minio.PutObjectOptions{})
	if err == nil {
		return nil
	}
	if errCode(err) != "NoSuchUpload" {
		return s3Error("completing upload", err)
	}
	info, serr := e.core.StatObject(ctx, e.bucket, name, minio.StatObjectOptions{})
	if serr != nil {
		return s3Error("completing upload", err)
	}
	if want, ok := multipartETag(parts); ok {
		if strings.Trim(info.ETag, `"`) == want {
			return nil
		}
	} else if info.Size == total {
		return nil
	}
	return s3Error("completing upload", err)
}

// multipartETag is the ETag S3 gives the object completed from parts
// whose ETags are MD5s: the MD5 of their concatenated digests, "-", the
// number of parts. It is not a security check, only how an earlier
// completion of these parts is recognised; ok is false when a part's tag
// is not an MD5 (encrypted objects, other ETag schemes), and then the
// size decides.
func multipartETag(parts []store.Part) (string, bool) {
	h := md5.New()
	for _, p := range parts {
		d, err := hex.DecodeString(strings.Trim(p.Tag, `"`))
		if err != nil || len(d) != md5.Size {
			return "", false
		}
		h.Write(d)
	}
	return fmt.Sprintf("%x-%d", h.Sum(nil), len(parts)), true
}

// AbortUpload aborts the multipart upload; an unknown one is nil.
func (e *Engine) AbortUpload(ctx context.Context, key, handle string) error {
	name, err := e.object(key)
	if err != nil {
		return err
	}
	if handle == "" {
		return nil
	}
	err = e.core.AbortMultipartUpload(ctx, e.bucket, name, handle)
	if err != nil && errCode(err) != "NoSuchUpload" {
		return s3Error("aborting upload", err)
	}
	return nil
}

// Size returns the object's size (HEAD).
func (e *Engine) Size(ctx context.Context, key string) (int64, error) {
	name, err := e.object(key)
	if err != nil {
		return 0, err
	}
	info, err := e.core.StatObject(ctx, e.bucket, name, minio.StatObjectOptions{})
	if err != nil {
		return 0, s3Error("size", err)
	}
	return info.Size, nil
}

// Open reads the range with one ranged GET, checking from Content-Range
// that the object holds all of it (S3 answers a range that ends past the
// end with what there is).
func (e *Engine) Open(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	name, err := e.object(key)
	if err != nil {
		return nil, err
	}
	if off < 0 || length <= 0 || length > math.MaxInt64-off {
		size, err := e.Size(ctx, key)
		if err != nil {
			return nil, err
		}
		if length == 0 && off >= 0 && off <= size {
			return io.NopCloser(strings.NewReader("")), nil
		}
		return nil, fmt.Errorf("%w: %d bytes from %d of %d", store.ErrRange, length, off, size)
	}
	var opts minio.GetObjectOptions
	if err := opts.SetRange(off, off+length-1); err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	body, info, hdr, err := e.core.GetObject(ctx, e.bucket, name, opts)
	if err != nil {
		return nil, s3Error("reading", err)
	}
	cr := hdr.Get("Content-Range")
	if cr == "" && off == 0 {
		// A server may answer a range that covers the whole object with
		// all of it (200): its length is the object's.
		if info.Size < length {
			body.Close()
			return nil, fmt.Errorf("%w: %d bytes from 0 of %d", store.ErrRange, length, info.Size)
		}
		return &exactBody{body: body, left: length}, nil
	}
	first, last, total, ok := parseContentRange(cr)
	if !ok || first != off {
		body.Close()
		return nil, fmt.Errorf("s3: reading %s: Content-Range %q for bytes %d-%d", name, cr, off, off+length-1)
	}
	if last != off+length-1 {
		body.Close()
		return nil, fmt.Errorf("%w: %d bytes from %d of %d", store.ErrRange, length, off, total)
	}
	return &exactBody{body: body, left: length}, nil
}

// parseContentRange parses "bytes first-last/total".
func parseContentRange(s string) (first, last, total int64, ok bool) {
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, 0, 0, false
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, 0, false
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, 0, false
	}
	var errs [3]error
	first, errs[0] = strconv.ParseInt(a, 10, 64)
	last, errs[1] = strconv.ParseInt(b, 10, 64)
	total, errs[2] = strconv.ParseInt(tot, 10, 64)
	if errors.Join(errs[:]...) != nil || first < 0 || last < first || total <= last {
		return 0, 0, 0, false
	}
	return first, last, total, true
}

// exactBody yields left bytes of body, and an error if body ends first.
type exactBody struct {
	body io.ReadCloser
	left int64
}

func (b *exactBody) Read(p []byte) (int, error) {
	if b.left == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), b.left)]
	n, err := b.body.Read(p)
	b.left -= int64(n)
	if err == io.EOF && b.left > 0 {
		err = fmt.Errorf("s3: reading blob: %w", io.ErrUnexpectedEOF)
	} else if err == io.EOF {
		err = nil
	}
	return n, err
}

func (b *exactBody) Close() error { return b.body.Close() }

// Delete removes the object; S3 answers an absent one the same.
func (e *Engine) Delete(ctx context.Context, key string) error {
	name, err := e.object(key)
	if err != nil {
		return err
	}
	if err := e.core.RemoveObject(ctx, e.bucket, name, minio.RemoveObjectOptions{}); err != nil && errCode(err) != "NoSuchKey" {
		return s3Error("deleting", err)
	}
	return nil
}
