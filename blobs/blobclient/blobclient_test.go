package blobclient

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sealpost/sealpost/blobs/api"
)

// serve runs handler over TLS and returns a Client of it.
func serve(t *testing.T, handler http.HandlerFunc) *Client {
	t.Helper()
	ts := httptest.NewTLSServer(handler)
	t.Cleanup(ts.Close)
	c, err := New(ts.URL, ts.Client(), func(context.Context) (string, error) { return "tok", nil })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewRefusesURLs(t *testing.T) {
	for _, u := range []string{"http://h", "https://h/path", "https://u@h", "https://h?q=1", "h:443"} {
		if _, err := New(u, nil, nil); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
}

// TestErrors: refusals come back as *Error with their code, status and,
// for offset_mismatch, the committed offset; errors.Is matches the
// sentinels by code.
func TestErrors(t *testing.T) {
	c := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			t.Errorf("Authorization %q", r.Header.Get("Authorization"))
		}
		w.Header().Set(api.HeaderOffset, "5242880")
		w.WriteHeader(http.StatusConflict)
		io.WriteString(w, `{"error":"offset_mismatch","message":"x"}`)
	})
	_, _, err := c.PutPart(context.Background(), [32]byte{}, 0, strings.NewReader("abc"), 3)
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusConflict || e.Offset != 5242880 || !errors.Is(err, ErrOffsetMismatch) || errors.Is(err, ErrUploadBusy) {
		t.Fatalf("err %v (%+v)", err, e)
	}
}

// TestMalformedAnswers: a server answering outside the protocol is an
// error, not a result.
func TestMalformedAnswers(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		status int
		header map[string]string
		body   string
		call   func(c *Client) error
	}{
		{"create: bad upload id", 201, nil, `{"upload_id":"abc","part_size":5242880,"offset":0}`, func(c *Client) error {
			_, err := c.Create(ctx, 10, [32]byte{})
			return err
		}},
		{"create: no part size", 201, nil, `{"upload_id":"` + api.EncodeID([32]byte{1}) + `","offset":0}`, func(c *Client) error {
			_, err := c.Create(ctx, 10, [32]byte{})
			return err
		}},
		{"create: bad blob id", 200, nil, `{"blob_id":"x"}`, func(c *Client) error {
			_, err := c.Create(ctx, 10, [32]byte{})
			return err
		}},
		{"part: offset not advanced", 204, map[string]string{api.HeaderOffset: "0"}, ``, func(c *Client) error {
			_, _, err := c.PutPart(ctx, [32]byte{}, 0, strings.NewReader("abc"), 3)
			return err
		}},
		{"offset: past the size", 200, map[string]string{api.HeaderOffset: "10", api.HeaderLength: "5", api.HeaderPartSize: "5"}, ``, func(c *Client) error {
			_, _, _, err := c.Offset(ctx, [32]byte{})
			return err
		}},
		{"get: another range", 206, map[string]string{"Content-Range": "bytes 0-2/3"}, `abc`, func(c *Client) error {
			_, _, err := c.Get(ctx, [32]byte{}, 1)
			return err
		}},
		{"get: whole blob for an offset", 200, nil, `abc`, func(c *Client) error {
			_, _, err := c.Get(ctx, [32]byte{}, 1)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := serve(t, func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			if err := tc.call(c); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
