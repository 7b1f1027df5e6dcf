package partio

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/sealpost/sealpost/blobs/store"
)

var errBody = errors.New("body broke")

// TestReader: the bytes handed on before a failure never include the
// last one, so a consumer that stops at size has seen the failure.
func TestReader(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 10000) // 100000 bytes
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	bg := context.Background()
	tests := []struct {
		name string
		ctx  context.Context
		src  io.Reader
		size int64
		want error // nil: all size bytes, then EOF
	}{
		{"exact", bg, bytes.NewReader(data), 100000, nil},
		{"exact, one byte at a time", bg, iotest.OneByteReader(bytes.NewReader(data)), 100000, nil},
		{"exact, EOF with the data", bg, iotest.DataErrReader(bytes.NewReader(data)), 100000, nil},
		{"empty", bg, bytes.NewReader(nil), 0, nil},
		{"short", bg, bytes.NewReader(data[:99999]), 100000, store.ErrShortPart},
		{"nothing", bg, bytes.NewReader(nil), 1, store.ErrShortPart},
		{"long by one", bg, bytes.NewReader(data), 99999, store.ErrShortPart},
		{"long, one byte at a time", bg, iotest.OneByteReader(bytes.NewReader(data)), 99999, store.ErrShortPart},
		{"long, size 0", bg, bytes.NewReader(data), 0, store.ErrShortPart},
		{"error midway", bg, io.MultiReader(bytes.NewReader(data[:500]), iotest.ErrReader(errBody)), 100000, errBody},
		{"error at the end", bg, io.MultiReader(bytes.NewReader(data), iotest.ErrReader(errBody)), 100000, errBody},
		{"timeout error", bg, iotest.TimeoutReader(bytes.NewReader(data)), 100000, iotest.ErrTimeout},
		{"cancelled", cancelled, bytes.NewReader(data), 100000, context.Canceled},
		{"no progress", bg, zeroReader{}, 10, io.ErrNoProgress},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(tc.ctx, tc.src, tc.size)
			got, err := io.ReadAll(io.LimitReader(r, tc.size+10))
			if tc.want == nil {
				if err != nil || !bytes.Equal(got, data[:tc.size]) || !r.Complete() || r.Err() != nil {
					t.Fatalf("read %d bytes, %v (complete %v)", len(got), err, r.Complete())
				}
				return
			}
			if !errors.Is(err, tc.want) || !errors.Is(r.Err(), tc.want) {
				t.Fatalf("error %v (Err %v), want %v", err, r.Err(), tc.want)
			}
			if int64(len(got)) >= tc.size && tc.size > 0 {
				t.Fatalf("handed on all %d bytes before failing", len(got))
			}
			if r.Complete() {
				t.Fatal("Complete after a failure")
			}
			if _, err := r.Read(make([]byte, 10)); !errors.Is(err, tc.want) {
				t.Fatalf("the error does not stick: %v", err)
			}
		})
	}
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }
