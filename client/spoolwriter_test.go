package client

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"
)

// The spool writer passes every byte, in order, to both the file and the
// hash, whatever the sizes of the writes.
func TestSpoolWriter(t *testing.T) {
	data := randomFile(t, 3*spoolBlock+12345)
	var file bytes.Buffer
	h := sha256.New()
	w := newSpoolWriter(&file, h)
	for p, i := data, 1; len(p) > 0; i++ {
		k := min(len(p), i*7919%(spoolBlock+3)+1)
		if n, err := w.Write(p[:k]); n != k || err != nil {
			t.Fatalf("Write: %d, %v", n, err)
		}
		p = p[k:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	want := sha256.Sum256(data)
	if !bytes.Equal(file.Bytes(), data) || !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatal("the file or the hash differs from what was written")
	}
}

// A failed file write is returned by Close and by the Writes after it.
func TestSpoolWriterFails(t *testing.T) {
	boom := errors.New("disk full")
	w := newSpoolWriter(failWriter{boom}, sha256.New())
	block := make([]byte, spoolBlock)
	var err error
	for range 2 * spoolBlocks {
		if _, err = w.Write(block); err != nil {
			break
		}
	}
	if cerr := w.Close(); !errors.Is(cerr, boom) {
		t.Fatalf("Close: %v, want the write error", cerr)
	}
	if _, err := w.Write(block); !errors.Is(err, boom) {
		t.Fatalf("Write after the failure: %v", err)
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }
