package stream

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/sealpost/sealpost/internal/testrand"
)

func testKey(label string) *[KeySize]byte {
	var k [KeySize]byte
	io.ReadFull(testrand.New("stream key "+label), k[:])
	return &k
}

func testFile(label string, n int) []byte {
	b := make([]byte, n)
	io.ReadFull(testrand.New("stream file "+label), b)
	return b
}

// sealPadded seals padded (a whole padded plaintext, padding included)
// chunk by chunk with the package's nonces, the chunk at finalAt sealed as
// final: a sender that pads with whatever it likes, or cuts the stream.
func sealPadded(key *[KeySize]byte, padded []byte, finalAt int64) []byte {
	a := newAEAD(key)
	out := make([]byte, 0, len(padded)+(len(padded)+ChunkSize-1)/ChunkSize*TagSize)
	for i := int64(0); len(padded) > 0; i++ {
		c := padded[:min(ChunkSize, len(padded))]
		padded = padded[len(c):]
		nc := nonce(i, i == finalAt)
		out = a.Seal(out, nc[:], c, nil)
	}
	return out
}

// boundarySizes are file lengths around the padding and chunk boundaries.
var boundarySizes = []int{0, 1, 4095, 4096, 4097, 4352, 4353, 65535, 65536, 65537, 67584, 67585, 131071, 131072, 131073, 150000, 200000}

// TestRoundTrip encrypts files of boundary sizes, written in pieces of
// several sizes, and checks the ciphertext's length, that every way of
// writing gives the same bytes, and that Decrypt, Reader and ChunkOpener
// give the file back.
func TestRoundTrip(t *testing.T) {
	key := testKey("round trip")
	for _, n := range boundarySizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			pt := testFile("round trip", n)
			ct := encrypt(t, key, pt)
			if int64(len(ct)) != CiphertextSize(int64(n)) {
				t.Fatalf("ciphertext of %d bytes, want %d", len(ct), CiphertextSize(int64(n)))
			}
			padded := make([]byte, PaddedSize(int64(n)))
			copy(padded, pt)
			if !bytes.Equal(ct, sealPadded(key, padded, ChunkCount(int64(n))-1)) {
				t.Fatal("Writer differs from sealing the padded file chunk by chunk")
			}
			for _, piece := range []int{1, 7, 4096, ChunkSize - 1, ChunkSize, ChunkSize + 1, 3 * ChunkSize} {
				var out bytes.Buffer
				w := NewWriter(key, &out)
				for rest := pt; len(rest) > 0; {
					k := min(piece, len(rest))
					if m, err := w.Write(rest[:k]); err != nil || m != k {
						t.Fatalf("Write: %d, %v", m, err)
					}
					rest = rest[k:]
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out.Bytes(), ct) {
					t.Fatalf("writes of %d bytes give another ciphertext", piece)
				}
			}
			checkOpen(t, key, ct, int64(n), pt, nil)
		})
	}
}

// TestReadAt reads a three-chunk file at offsets and lengths across chunk
// boundaries and the end, in a shuffled order, and by Seek and Read.
func TestReadAt(t *testing.T) {
	key := testKey("read at")
	const n = 2*ChunkSize + 5000
	pt := testFile("read at", n)
	r, err := NewReader(key, bytes.NewReader(encrypt(t, key, pt)), n)
	if err != nil {
		t.Fatal(err)
	}
	if r.Size() != n {
		t.Fatalf("Size = %d", r.Size())
	}
	offsets := []int64{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 2*ChunkSize - 3, 2 * ChunkSize, n - 1, n - 100, 12345, 0}
	lengths := []int{0, 1, 2, 100, ChunkSize, ChunkSize + 2, 2*ChunkSize + 1, n}
	for _, off := range offsets {
		for _, l := range lengths {
			buf := make([]byte, l)
			k, err := r.ReadAt(buf, off)
			want := pt[off:min(off+int64(l), n)]
			if k != len(want) || !bytes.Equal(buf[:k], want) {
				t.Fatalf("ReadAt(%d bytes, %d) = %d bytes, want %d", l, off, k, len(want))
			}
			if (len(want) < l) != (err == io.EOF) || (err != nil && err != io.EOF) {
				t.Fatalf("ReadAt(%d bytes, %d): %v", l, off, err)
			}
		}
	}
	if k, err := r.ReadAt(make([]byte, 1), n); k != 0 || err != io.EOF {
		t.Fatalf("ReadAt at n: %d, %v", k, err)
	}
	if _, err := r.ReadAt(make([]byte, 1), -1); err == nil || errors.Is(err, ErrCorrupt) {
		t.Fatalf("ReadAt at -1: %v", err)
	}

	for _, s := range []struct {
		off    int64
		whence int
		want   int64
	}{{ChunkSize - 2, io.SeekStart, ChunkSize - 2}, {3, io.SeekCurrent, ChunkSize + 8}, {-10, io.SeekEnd, n - 10}} {
		pos, err := r.Seek(s.off, s.whence)
		if err != nil || pos != s.want {
			t.Fatalf("Seek(%d, %d) = %d, %v", s.off, s.whence, pos, err)
		}
		got, err := io.ReadAll(io.LimitReader(r, 7))
		if err != nil || !bytes.Equal(got, pt[pos:min(pos+7, n)]) {
			t.Fatalf("Read after Seek(%d, %d): %v", s.off, s.whence, err)
		}
	}
	if _, err := r.Seek(-1, io.SeekStart); err == nil {
		t.Fatal("Seek to -1 allowed")
	}
	if _, err := r.Seek(0, 7); err == nil {
		t.Fatal("Seek with whence 7 allowed")
	}
}

// TestReadAtConcurrent reads one Reader from several goroutines (run with
// -race).
func TestReadAtConcurrent(t *testing.T) {
	key := testKey("concurrent")
	const n = 3*ChunkSize + 1
	pt := testFile("concurrent", n)
	r, err := NewReader(key, bytes.NewReader(encrypt(t, key, pt)), n)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Go(func() {
			buf := make([]byte, 1000)
			for i := range 50 {
				off := int64((g*7919 + i*40009) % (n - len(buf)))
				if _, err := r.ReadAt(buf, off); err != nil || !bytes.Equal(buf, pt[off:off+int64(len(buf))]) {
					errs <- fmt.Errorf("ReadAt(%d): %v", off, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestRefusals checks every refusal of spec/attachments.md §2.5 against
// Decrypt, Reader and ChunkOpener: each is ErrCorrupt.
func TestRefusals(t *testing.T) {
	key := testKey("refusals")
	const n = 2*ChunkSize + 100 // pad: 135168, three chunks, the last of 3968 bytes
	pt := testFile("refusals", n)
	ct := encrypt(t, key, pt)
	padded := make([]byte, PaddedSize(n))
	copy(padded, pt)
	last := ChunkCount(n) - 1
	with := func(f func(c []byte) []byte) []byte { return f(bytes.Clone(ct)) }
	nonzero := func(at int) []byte {
		p := bytes.Clone(padded)
		p[at] = 0x80
		return sealPadded(key, p, last)
	}

	for _, c := range []struct {
		name string
		ct   []byte
		n    int64
		key  *[KeySize]byte
	}{
		{"empty", nil, n, key},
		{"missing byte", ct[:len(ct)-1], n, key},
		{"missing chunk", ct[:2*SealedChunkSize], n, key},
		{"extra byte", append(bytes.Clone(ct), 0), n, key},
		{"extra chunk", append(bytes.Clone(ct), ct[:SealedChunkSize]...), n, key},
		{"length of another padded size", ct, PaddedSize(n) + 1, key},
		{"cut at a chunk boundary", ct[:2*SealedChunkSize], 2 * ChunkSize, key},
		{"final flag on every chunk", sealPadded(key, padded, -1), n, key},
		{"final flag on chunk 0", sealPadded(key, padded, 0), n, key},
		{"chunks 0 and 1 swapped", with(func(c []byte) []byte {
			a := bytes.Clone(c[:SealedChunkSize])
			copy(c, c[SealedChunkSize:2*SealedChunkSize])
			copy(c[SealedChunkSize:], a)
			return c
		}), n, key},
		{"chunk 1 duplicated over chunk 0", with(func(c []byte) []byte {
			copy(c, c[SealedChunkSize:2*SealedChunkSize])
			return c
		}), n, key},
		{"tag bit flipped", with(func(c []byte) []byte { c[SealedChunkSize-1] ^= 1; return c }), n, key},
		{"body bit flipped in the final chunk", with(func(c []byte) []byte { c[2*SealedChunkSize] ^= 0x40; return c }), n, key},
		{"nonzero padding at n", nonzero(n), n, key},
		{"nonzero padding at the end", nonzero(len(padded) - 1), n, key},
		{"wrong key", ct, n, testKey("other")},
	} {
		t.Run(c.name, func(t *testing.T) {
			checkOpen(t, c.key, c.ct, c.n, nil, ErrCorrupt)
		})
	}
}

// TestRefusalOutputs checks what a refusal hands out: a ChunkOpener appends
// nothing to dst; Decrypt nothing of the refused chunk; a Reader nothing
// past the chunks that opened.
func TestRefusalOutputs(t *testing.T) {
	key := testKey("refusal outputs")
	const n = 2*ChunkSize + 100
	pt := testFile("refusal outputs", n)
	ct := encrypt(t, key, pt)
	ct[ChunkSize+SealedChunkSize] ^= 1 // in chunk 1's tag

	o, err := NewChunkOpener(key, n)
	if err != nil {
		t.Fatal(err)
	}
	dst := []byte("kept")
	out, err := o.Open(dst, ct[SealedChunkSize:2*SealedChunkSize], 1)
	if !errors.Is(err, ErrCorrupt) || out != nil || string(dst) != "kept" {
		t.Fatalf("Open: %q, %v", out, err)
	}
	if out, err := o.Open(dst, ct[:SealedChunkSize-1], 0); !errors.Is(err, ErrCorrupt) || out != nil {
		t.Fatalf("Open of a short chunk: %v", err)
	}
	if out, err := o.Open(dst, ct[:SealedChunkSize], 3); !errors.Is(err, ErrCorrupt) || out != nil || o.SealedLen(3) != -1 {
		t.Fatalf("Open of chunk 3 of 3: %v", err)
	}

	var got bytes.Buffer
	if err := Decrypt(&got, key, bytes.NewReader(ct), n); !errors.Is(err, ErrCorrupt) || !bytes.Equal(got.Bytes(), pt[:ChunkSize]) {
		t.Fatalf("Decrypt: %v, %d bytes out", err, got.Len())
	}

	r, err := NewReader(key, bytes.NewReader(ct), n)
	if err != nil {
		t.Fatal(err) // the final chunk and the length are sound
	}
	buf := make([]byte, n)
	k, err := r.ReadAt(buf, 10)
	if !errors.Is(err, ErrCorrupt) || k != ChunkSize-10 || !bytes.Equal(buf[:k], pt[10:ChunkSize]) {
		t.Fatalf("ReadAt: %d, %v", k, err)
	}
	if k, err := r.ReadAt(buf[:10], 2*ChunkSize); err != nil || !bytes.Equal(buf[:k], pt[2*ChunkSize:2*ChunkSize+10]) {
		t.Fatalf("ReadAt in chunk 2: %v", err) // other chunks still read
	}
}

// TestPaddingChunks checks a file whose padding fills whole chunks before
// the final one: a ReaderAt that does not reach the end never opens them,
// but a read to the end does, and refuses nonzero padding there. (8 MiB:
// the test avoids copies of the whole file, which -race makes slow.)
func TestPaddingChunks(t *testing.T) {
	key := testKey("padding chunks")
	const n = 1<<23 + 1 // pad 2^23 + 2^18: chunks 129 and 130 hold padding alone
	if ChunkCount(n) != 132 {
		t.Fatalf("ChunkCount = %d", ChunkCount(n))
	}
	padded := make([]byte, PaddedSize(n))
	pattern := testFile("padding chunks", 251)
	for off := 0; off < n; off += len(pattern) {
		copy(padded[off:n], pattern)
	}
	good := sealPadded(key, padded, 131)
	want := sha256.Sum256(padded[:n])

	// Chunk 130 sealed again with one nonzero padding byte.
	bad := bytes.Clone(good)
	chunk := bytes.Clone(padded[130*ChunkSize : 131*ChunkSize])
	chunk[5] = 1
	nc := nonce(130, false)
	newAEAD(key).Seal(bad[130*SealedChunkSize:130*SealedChunkSize], nc[:], chunk, nil)

	r, err := NewReader(key, bytes.NewReader(bad), n)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	if _, err := r.ReadAt(buf, n-100); err != nil || !bytes.Equal(buf, padded[n-100:n]) {
		t.Fatalf("ReadAt of the last bytes: %v", err)
	}
	if _, err := r.ReadAt(buf, n-50); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ReadAt past the end: %v, want ErrCorrupt", err)
	}
	if err := Decrypt(io.Discard, key, bytes.NewReader(bad), n); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Decrypt: %v", err)
	}

	h := sha256.New()
	if err := Decrypt(h, key, bytes.NewReader(good), n); err != nil || !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatalf("Decrypt: %v", err)
	}
	r, err = NewReader(key, bytes.NewReader(good), n)
	if err != nil {
		t.Fatal(err)
	}
	h.Reset()
	if k, err := io.Copy(h, r); err != nil || k != n || !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatalf("Reader: %d bytes, %v", k, err)
	}
}

// TestWriterClose checks that Close is idempotent, that Write after Close
// fails and writes nothing, and that a Writer closed on nothing writes the
// stream of an empty file.
func TestWriterClose(t *testing.T) {
	key := testKey("close")
	var out bytes.Buffer
	w := NewWriter(key, &out)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ct := bytes.Clone(out.Bytes())
	if int64(len(ct)) != CiphertextSize(0) {
		t.Fatalf("empty file: %d bytes", len(ct))
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if k, err := w.Write([]byte("late")); k != 0 || !errors.Is(err, errClosed) {
		t.Fatalf("Write after Close: %d, %v", k, err)
	}
	if k, err := w.Write(nil); k != 0 || !errors.Is(err, errClosed) {
		t.Fatalf("empty Write after Close: %d, %v", k, err)
	}
	if !bytes.Equal(out.Bytes(), ct) {
		t.Fatal("output changed after Close")
	}
	checkOpen(t, key, ct, 0, nil, nil)
}

type failWriter struct{ after int }

var errDisk = errors.New("disk full")

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errDisk
	}
	f.after--
	return len(p), nil
}

// TestWriterErrors checks that a failed write to dst and ErrTooLarge are
// kept and returned by every later Write and Close.
func TestWriterErrors(t *testing.T) {
	key := testKey("errors")
	w := NewWriter(key, &failWriter{after: 1})
	pt := make([]byte, 3*ChunkSize)
	if k, err := w.Write(pt); !errors.Is(err, errDisk) || k != ChunkSize {
		t.Fatalf("Write: %d, %v; want %d, errDisk", k, err, ChunkSize)
	}
	if _, err := w.Write(pt[:1]); !errors.Is(err, errDisk) {
		t.Fatalf("Write after a failure: %v", err)
	}
	if err := w.Close(); !errors.Is(err, errDisk) {
		t.Fatalf("Close after a failure: %v", err)
	}
	if err := w.Close(); !errors.Is(err, errDisk) {
		t.Fatalf("second Close after a failure: %v", err)
	}

	w = NewWriter(key, &failWriter{after: 0})
	if _, err := w.Write(pt[:10]); err != nil {
		t.Fatal(err) // held, nothing written yet
	}
	if err := w.Close(); !errors.Is(err, errDisk) {
		t.Fatalf("Close: %v", err)
	}
	if err := w.Close(); !errors.Is(err, errDisk) {
		t.Fatalf("second Close: %v", err)
	}

	var out bytes.Buffer
	w = NewWriter(key, &out)
	w.n = MaxFileSize - 1 // as if 2^40 - 1 bytes had been written
	if k, err := w.Write([]byte{1, 2}); k != 0 || !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Write past MaxFileSize: %d, %v", k, err)
	}
	if err := w.Close(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Close: %v", err)
	}
	if out.Len() != 0 {
		t.Fatal("bytes written")
	}
}

// TestSizesOutOfRange checks the constructors' refusal of n outside
// [0, MaxFileSize].
func TestSizesOutOfRange(t *testing.T) {
	key := testKey("range")
	for _, n := range []int64{-1, -1 << 62, MaxFileSize + 1, 1<<63 - 1} {
		if PaddedSize(n) != -1 || ChunkCount(n) != -1 || CiphertextSize(n) != -1 {
			t.Errorf("n = %d: sizes not -1", n)
		}
		if _, err := NewReader(key, bytes.NewReader(nil), n); !errors.Is(err, ErrTooLarge) {
			t.Errorf("NewReader(n = %d): %v", n, err)
		}
		if err := Decrypt(io.Discard, key, bytes.NewReader(nil), n); !errors.Is(err, ErrTooLarge) {
			t.Errorf("Decrypt(n = %d): %v", n, err)
		}
	}
	// The largest file: sizes without overflow.
	if CiphertextSize(MaxFileSize) != MaxFileSize+TagSize*MaxFileSize/ChunkSize {
		t.Errorf("CiphertextSize(MaxFileSize) = %d", CiphertextSize(MaxFileSize))
	}
}

// TestNonce checks the nonce layout of spec/attachments.md §2.4.
func TestNonce(t *testing.T) {
	got := nonce(0x0102030405, true)
	want := [NonceSize]byte{0, 0, 0, 0, 0, 0, 0x01, 0x02, 0x03, 0x04, 0x05, 0x01}
	if got != want {
		t.Fatalf("nonce = %x, want %x", got, want)
	}
	if got := nonce(7, false); got != [NonceSize]byte{10: 7} {
		t.Fatalf("nonce(7, false) = %x", got)
	}
}

// TestWriterAllocs checks that the Writer allocates nothing per chunk.
func TestWriterAllocs(t *testing.T) {
	w := NewWriter(testKey("allocs"), io.Discard)
	pt := make([]byte, 4*ChunkSize+123)
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := w.Write(pt); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per Write of four chunks", allocs)
	}
}

// TestDecryptIOError checks that a source's own error is returned as it
// is, not as ErrCorrupt.
func TestDecryptIOError(t *testing.T) {
	key := testKey("io error")
	ct := encrypt(t, key, []byte("x"))
	src := io.MultiReader(bytes.NewReader(ct[:100]), errReader{})
	if err := Decrypt(io.Discard, key, src, 1); !errors.Is(err, errDisk) {
		t.Fatalf("Decrypt: %v, want errDisk", err)
	}
	if _, err := NewReader(key, errReaderAt{}, 1); !errors.Is(err, errDisk) {
		t.Fatalf("NewReader: %v, want errDisk", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errDisk }

type errReaderAt struct{}

func (errReaderAt) ReadAt([]byte, int64) (int, error) { return 0, errDisk }
