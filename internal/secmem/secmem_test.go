package secmem

import (
	"bytes"
	"testing"
)

func TestBufferMovesAndDestroys(t *testing.T) {
	src := []byte("secret key bytes")
	want := bytes.Clone(src)
	b := NewBufferFromBytes(src)
	if !bytes.Equal(src, make([]byte, len(src))) {
		t.Fatalf("source not wiped: %q", src)
	}
	b.Freeze()
	if !bytes.Equal(b.Bytes(), want) || b.Size() != len(want) {
		t.Fatalf("buffer holds %q, want %q", b.Bytes(), want)
	}
	b.Destroy()
	if b.Size() != 0 || len(b.Bytes()) != 0 {
		t.Fatalf("destroyed buffer still holds %d bytes", b.Size())
	}
	b.Destroy() // idempotent
}

func TestEnclave(t *testing.T) {
	if NewEnclave(nil) != nil {
		t.Fatal("NewEnclave(nil) is not nil")
	}
	src := []byte("the store key, 32 bytes long....")
	want := bytes.Clone(src)
	e := NewEnclave(src)
	if !bytes.Equal(src, make([]byte, len(src))) {
		t.Fatalf("source not wiped: %q", src)
	}
	for range 2 {
		b, err := e.Open()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.Bytes(), want) {
			t.Fatalf("enclave opened to %q, want %q", b.Bytes(), want)
		}
		b.Destroy()
	}
}

func TestWipeBytes(t *testing.T) {
	b := []byte{1, 2, 3}
	WipeBytes(b)
	if !bytes.Equal(b, []byte{0, 0, 0}) {
		t.Fatalf("WipeBytes left %v", b)
	}
}
