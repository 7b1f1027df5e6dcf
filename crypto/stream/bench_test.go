package stream

import (
	"bytes"
	"testing"
)

// sliceWriter writes into a preallocated slice, so the benchmarks measure
// the stream and one copy of its output, not a growing buffer.
type sliceWriter struct{ b []byte }

func (s *sliceWriter) Write(p []byte) (int, error) {
	s.b = append(s.b, p...)
	return len(p), nil
}

// BenchmarkAttachment measures the stream over a 64 MiB file held in
// memory: encrypt (Writer, in 1 MiB writes), decrypt (Decrypt), and, for
// comparison in the same run, raw-aead: ChaCha20-Poly1305 Seal of the same
// 64 KiB chunks with nothing else, the bound encrypt can approach, and
// raw-aead-open: Open of them, decrypt's bound.
//
//	go test -run XXX -bench Attachment -count 3 ./crypto/stream
func BenchmarkAttachment(b *testing.B) {
	const n = 64 << 20
	key := testKey("bench")
	pt := testFile("bench", n)
	ct := encrypt(b, key, pt)
	out := &sliceWriter{b: make([]byte, 0, len(ct))}

	b.Run("encrypt", func(b *testing.B) {
		b.SetBytes(n)
		b.ReportAllocs()
		for b.Loop() {
			out.b = out.b[:0]
			w := NewWriter(key, out)
			for off := 0; off < n; off += 1 << 20 {
				if _, err := w.Write(pt[off : off+1<<20]); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		}
		if !bytes.Equal(out.b, ct) {
			b.Fatal("ciphertext differs")
		}
	})

	b.Run("decrypt", func(b *testing.B) {
		b.SetBytes(n)
		b.ReportAllocs()
		for b.Loop() {
			out.b = out.b[:0]
			if err := Decrypt(out, key, bytes.NewReader(ct), n); err != nil {
				b.Fatal(err)
			}
		}
		if !bytes.Equal(out.b, pt) {
			b.Fatal("plaintext differs")
		}
	})

	b.Run("raw-aead", func(b *testing.B) {
		a := newAEAD(key)
		var nc [NonceSize]byte
		b.SetBytes(n)
		b.ReportAllocs()
		for b.Loop() {
			out.b = out.b[:0]
			for off := 0; off < n; off += ChunkSize {
				out.b = a.Seal(out.b, nc[:], pt[off:off+ChunkSize], nil)
			}
		}
	})
	b.Run("raw-aead-open", func(b *testing.B) {
		a := newAEAD(key)
		var nc [NonceSize]byte
		sealed := a.Seal(nil, nc[:], pt[:ChunkSize], nil)
		b.SetBytes(n)
		b.ReportAllocs()
		for b.Loop() {
			out.b = out.b[:0]
			for range n / ChunkSize {
				var err error
				if out.b, err = a.Open(out.b, nc[:], sealed, nil); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
