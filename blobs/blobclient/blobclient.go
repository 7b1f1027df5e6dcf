// Package blobclient is the Go client of the blob service
// (spec/attachments.md §4): create an upload, send its parts, resume it
// after a lost connection, cancel it, and download a blob from an offset.
// It moves ciphertext only; encrypting it (§2) is the caller's.
package blobclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sealpost/sealpost/blobs/api"
)

// maxAnswer bounds the JSON answers read: every one is under 200 bytes.
const maxAnswer = 16 << 10

// Client talks to one blob service.
type Client struct {
	base  string
	http  *http.Client
	token func(ctx context.Context) (string, error)
}

// New returns a Client for the service at baseURL (https://host[:port],
// no path), using hc (whose transport carries the TLS trust; nil means
// http.DefaultClient) and token for the access token of each upload
// request (audience "blobs:<server name>"); downloads need none.
func New(baseURL string, hc *http.Client, token func(ctx context.Context) (string, error)) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("blobclient: service URL %q: want https://host[:port]", baseURL)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimSuffix(baseURL, "/"), http: hc, token: token}, nil
}

// Created is the answer to Create: an upload to send parts to, or, when
// the account holds this ciphertext already, the blob (BlobID set, no
// upload).
type Created struct {
	UploadID [32]byte
	PartSize int64
	Offset   int64
	BlobID   *[32]byte
	// Expires is when the upload is dropped without progress, or when the
	// blob expires.
	Expires time.Time
}

// Create starts the upload of size bytes of ciphertext with SHA-256
// digest (spec/attachments.md §4.3).
func (c *Client) Create(ctx context.Context, size int64, digest [32]byte) (Created, error) {
	body, _ := json.Marshal(api.CreateRequest{Size: size, Digest: api.EncodeID(digest)})
	resp, err := c.do(ctx, http.MethodPost, api.UploadsPath, bytes.NewReader(body), int64(len(body)), true, nil)
	if err != nil {
		return Created{}, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusCreated:
		var a api.UploadCreated
		if err := readJSON(resp, &a); err != nil {
			return Created{}, err
		}
		id, err := api.ParseID(a.UploadID)
		if err != nil || a.PartSize <= 0 || a.Offset != 0 {
			return Created{}, fmt.Errorf("blobclient: malformed create answer")
		}
		return Created{UploadID: id, PartSize: a.PartSize, Offset: a.Offset, Expires: time.Unix(a.Expires, 0)}, nil
	case http.StatusOK:
		id, exp, err := readBlob(resp)
		if err != nil {
			return Created{}, err
		}
		return Created{BlobID: &id, Expires: exp}, nil
	}
	return Created{}, readError(resp)
}

// Offset asks where upload id stands (spec/attachments.md §4.5): the
// committed offset, the declared size and the part size. An upload that
// has completed is no longer open (ErrUnknownUpload): Create again with
// the same size and digest answers its blob.
func (c *Client) Offset(ctx context.Context, id [32]byte) (offset, size, partSize int64, err error) {
	resp, err := c.do(ctx, http.MethodHead, uploadPath(id), nil, 0, true, nil)
	if err != nil {
		return 0, 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, 0, &Error{Status: resp.StatusCode, Code: headCode(resp.StatusCode), Offset: -1}
	}
	offset, ok1 := header(resp, api.HeaderOffset)
	size, ok2 := header(resp, api.HeaderLength)
	partSize, ok3 := header(resp, api.HeaderPartSize)
	if !ok1 || !ok2 || !ok3 || offset > size || partSize <= 0 {
		return 0, 0, 0, errors.New("blobclient: malformed offset answer")
	}
	return offset, size, partSize, nil
}

// PutPart sends length bytes from body as the part at offset
// (spec/attachments.md §4.4). It returns the new committed offset, and
// after the last part the blob's id. A refusal is an *Error; on
// offset_mismatch its Offset is the committed one.
func (c *Client) PutPart(ctx context.Context, id [32]byte, offset int64, body io.Reader, length int64) (int64, *[32]byte, error) {
	h := map[string]string{api.HeaderOffset: strconv.FormatInt(offset, 10)}
	resp, err := c.do(ctx, http.MethodPatch, uploadPath(id), body, length, true, h)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNoContent:
		n, ok := header(resp, api.HeaderOffset)
		if !ok || n <= offset {
			return 0, nil, errors.New("blobclient: malformed part answer")
		}
		return n, nil, nil
	case http.StatusOK:
		b, _, err := readBlob(resp)
		if err != nil {
			return 0, nil, err
		}
		return offset + length, &b, nil
	}
	return 0, nil, readError(resp)
}

// Cancel deletes upload id and its parts (spec/attachments.md §4.5).
func (c *Client) Cancel(ctx context.Context, id [32]byte) error {
	resp, err := c.do(ctx, http.MethodDelete, uploadPath(id), nil, 0, true, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		return nil
	}
	return readError(resp)
}

// Get downloads blob id from byte off to its end (spec/attachments.md
// §4.6) and returns the bytes and the blob's whole size. The caller
// closes the reader and checks what it reads (§2.5): the service is not
// trusted with the bytes.
func (c *Client) Get(ctx context.Context, id [32]byte, off int64) (io.ReadCloser, int64, error) {
	if off < 0 {
		return nil, 0, errors.New("blobclient: negative offset")
	}
	h := map[string]string{"Range": "bytes=" + strconv.FormatInt(off, 10) + "-"}
	resp, err := c.do(ctx, http.MethodGet, api.Prefix+api.EncodeID(id), nil, 0, false, h)
	if err != nil {
		return nil, 0, err
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
		start, end, total, ok := contentRange(resp.Header.Get("Content-Range"))
		if !ok || start != off || end != total-1 || resp.ContentLength != total-off {
			resp.Body.Close()
			return nil, 0, errors.New("blobclient: malformed range answer")
		}
		return resp.Body, total, nil
	case http.StatusOK:
		if off != 0 || resp.ContentLength < 0 {
			resp.Body.Close()
			return nil, 0, errors.New("blobclient: the service ignored the range")
		}
		return resp.Body, resp.ContentLength, nil
	}
	defer resp.Body.Close()
	return nil, 0, readError(resp)
}

// do sends one request; auth adds the bearer token.
func (c *Client) do(ctx context.Context, method, path string, body io.Reader, length int64, auth bool, h map[string]string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("blobclient: %w", err)
	}
	if body != nil {
		req.ContentLength = length
		if length == 0 {
			req.Body = http.NoBody
		}
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	if auth {
		t, err := c.token(ctx)
		if err != nil {
			return nil, fmt.Errorf("blobclient: token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+t)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("blobclient: %s: %w", method, err)
	}
	return resp, nil
}

func uploadPath(id [32]byte) string { return api.UploadsPath + "/" + api.EncodeID(id) }

func readJSON(resp *http.Response, v any) error {
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("blobclient: reading the answer: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("blobclient: malformed answer: %w", err)
	}
	return nil
}

func readBlob(resp *http.Response) ([32]byte, time.Time, error) {
	var a api.BlobReady
	if err := readJSON(resp, &a); err != nil {
		return [32]byte{}, time.Time{}, err
	}
	id, err := api.ParseID(a.BlobID)
	if err != nil {
		return [32]byte{}, time.Time{}, errors.New("blobclient: malformed blob id in the answer")
	}
	return id, time.Unix(a.Expires, 0), nil
}

// header reads a decimal header of resp.
func header(resp *http.Response, name string) (int64, bool) {
	n, err := strconv.ParseInt(resp.Header.Get(name), 10, 64)
	return n, err == nil && n >= 0
}

// contentRange parses "bytes a-b/S".
func contentRange(s string) (start, end, total int64, ok bool) {
	rest, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rng, size, found := strings.Cut(rest, "/")
	a, b, found2 := strings.Cut(rng, "-")
	if !found || !found2 {
		return 0, 0, 0, false
	}
	var err1, err2, err3 error
	start, err1 = strconv.ParseInt(a, 10, 64)
	end, err2 = strconv.ParseInt(b, 10, 64)
	total, err3 = strconv.ParseInt(size, 10, 64)
	return start, end, total, err1 == nil && err2 == nil && err3 == nil && start >= 0 && start <= end && end < total
}

// headCode names the error of a HEAD answer, which has no body.
func headCode(status int) string {
	switch status {
	case http.StatusNotFound:
		return api.CodeUnknownUpload
	case http.StatusUnauthorized:
		return api.CodeInvalidToken
	case http.StatusServiceUnavailable:
		return api.CodeUnavailable
	}
	return ""
}
