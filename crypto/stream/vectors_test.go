package stream

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"testing"

	"github.com/sealpost/sealpost/internal/vectors"
)

var vectorErrors = map[string]error{
	"":          nil,
	"corrupt":   ErrCorrupt,
	"too_large": ErrTooLarge,
}

// TestVectors walks every case of spec/vectors/attachments.json by id: pad
// cases check the sizes; encrypt cases the stream key, the Writer's
// ciphertext (whole, its tags and its digest) and that it opens back; open
// cases build the ciphertext, check its digest, and check that Decrypt, the
// Reader and a ChunkOpener all give the plaintext or all refuse with the
// named error.
func TestVectors(t *testing.T) {
	file, err := vectors.Load[vectors.AttachmentCase]("attachments.json")
	if err != nil {
		t.Fatal(err)
	}
	streams := map[string][]byte{} // encrypt case id → ciphertext
	ops := map[string]int{}
	for _, v := range file.Cases {
		ops[v.Op]++
		if _, ok := vectorErrors[v.Error]; !ok {
			t.Fatalf("%s: unknown error %q", v.ID, v.Error)
		}
		t.Run(v.ID, func(t *testing.T) {
			switch v.Op {
			case "pad":
				testPadVector(t, v)
			case "encrypt":
				streams[v.ID] = testEncryptVector(t, v)
			case "open":
				base, ok := streams[v.From]
				if v.From != "" && !ok {
					t.Fatalf("from %q: no such encrypt case before this one", v.From)
				}
				testOpenVector(t, v, base)
			default:
				t.Fatalf("unknown op %q", v.Op)
			}
		})
	}
	for _, op := range []string{"pad", "encrypt", "open"} {
		if ops[op] == 0 {
			t.Errorf("no %s cases", op)
		}
	}
}

func testPadVector(t *testing.T, v vectors.AttachmentCase) {
	if v.Error != "" {
		if PaddedSize(v.N) != -1 || ChunkCount(v.N) != -1 || CiphertextSize(v.N) != -1 {
			t.Fatal("sizes of an out-of-range n are not -1")
		}
		if _, err := NewChunkOpener(new([KeySize]byte), v.N); !errors.Is(err, vectorErrors[v.Error]) {
			t.Fatalf("NewChunkOpener: %v, want %s", err, v.Error)
		}
		return
	}
	if got := PaddedSize(v.N); got != v.PaddedSize {
		t.Errorf("PaddedSize = %d, want %d", got, v.PaddedSize)
	}
	if got := ChunkCount(v.N); got != v.Chunks {
		t.Errorf("ChunkCount = %d, want %d", got, v.Chunks)
	}
	if got := CiphertextSize(v.N); got != v.CiphertextSize {
		t.Errorf("CiphertextSize = %d, want %d", got, v.CiphertextSize)
	}
	o, err := NewChunkOpener(new([KeySize]byte), v.N)
	if err != nil || o.Chunks() != v.Chunks || o.Size() != v.CiphertextSize {
		t.Errorf("ChunkOpener: %v, %d chunks, size %d", err, o.Chunks(), o.Size())
	}
}

func testEncryptVector(t *testing.T, v vectors.AttachmentCase) []byte {
	if v.Error != "" || len(v.Key) != KeySize {
		t.Fatalf("an encrypt case with error %q, key of %d bytes", v.Error, len(v.Key))
	}
	key := (*[KeySize]byte)(v.Key)
	if sk := streamKey(key); !bytes.Equal(sk[:], v.StreamKey) {
		t.Fatalf("stream key %x, want %x", sk, v.StreamKey)
	}
	pt := v.Expand()
	if int64(len(pt)) != v.N {
		t.Fatalf("plaintext of %d bytes, n = %d", len(pt), v.N)
	}
	ct := encrypt(t, key, pt)
	if v.Ciphertext != nil && !bytes.Equal(ct, v.Ciphertext) {
		t.Fatalf("ciphertext differs")
	}
	if int64(len(ct)) != CiphertextSize(v.N) {
		t.Fatalf("ciphertext of %d bytes, want %d", len(ct), CiphertextSize(v.N))
	}
	if len(v.Tags) != int(ChunkCount(v.N)) {
		t.Fatalf("%d tags for %d chunks", len(v.Tags), ChunkCount(v.N))
	}
	for i, tag := range v.Tags {
		end := min((i+1)*SealedChunkSize, len(ct))
		if !bytes.Equal(ct[end-TagSize:end], tag) {
			t.Fatalf("chunk %d: tag differs", i)
		}
	}
	if d := sha256.Sum256(ct); !bytes.Equal(d[:], v.Digest) {
		t.Fatalf("digest differs")
	}
	checkOpen(t, key, ct, v.N, pt, nil)
	return ct
}

func testOpenVector(t *testing.T, v vectors.AttachmentCase, base []byte) {
	ct := []byte(v.Ciphertext)
	if v.From != "" {
		if v.Ciphertext != nil {
			t.Fatal("both ciphertext and from")
		}
		var err error
		if ct, err = vectors.ApplyEdits(base, v.Edits); err != nil {
			t.Fatal(err)
		}
	}
	if d := sha256.Sum256(ct); !bytes.Equal(d[:], v.Digest) {
		t.Fatalf("digest of the input differs")
	}
	if len(v.Key) != KeySize {
		t.Fatalf("key of %d bytes", len(v.Key))
	}
	var want []byte
	if v.Error == "" {
		want = v.Expand()
	}
	checkOpen(t, (*[KeySize]byte)(v.Key), ct, v.N, want, vectorErrors[v.Error])
}

// encrypt returns the stream of pt under key, written in one Write.
func encrypt(t testing.TB, key *[KeySize]byte, pt []byte) []byte {
	t.Helper()
	// Buffers of the final size: growing them copies, which -race makes slow.
	out := bytes.NewBuffer(make([]byte, 0, CiphertextSize(int64(len(pt)))))
	w := NewWriter(key, out)
	if n, err := w.Write(pt); err != nil || n != len(pt) {
		t.Fatalf("Write: %d, %v", n, err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return out.Bytes()
}

// checkOpen checks that Decrypt, a Reader read to the end and a ChunkOpener
// over every chunk all give want, or all fail with wantErr (giving no
// plaintext past what the Reader had handed out before the failing chunk).
func checkOpen(t *testing.T, key *[KeySize]byte, ct []byte, n int64, want []byte, wantErr error) {
	t.Helper()
	out := bytes.NewBuffer(make([]byte, 0, len(want)))
	err := Decrypt(out, key, bytes.NewReader(ct), n)
	if !errors.Is(err, wantErr) || (wantErr == nil && !bytes.Equal(out.Bytes(), want)) {
		t.Fatalf("Decrypt: %v (%d bytes), want %v", err, out.Len(), wantErr)
	}

	r, err := NewReader(key, bytes.NewReader(ct), n)
	if err == nil {
		got := bytes.NewBuffer(make([]byte, 0, len(want)))
		_, err = io.Copy(got, r)
		if err == nil && !bytes.Equal(got.Bytes(), want) {
			t.Fatal("Reader: plaintext differs")
		}
	}
	if !errors.Is(err, wantErr) {
		t.Fatalf("Reader: %v, want %v", err, wantErr)
	}

	o, err := NewChunkOpener(key, n)
	if err == nil {
		err = openChunks(o, ct, out)
	}
	if !errors.Is(err, wantErr) || (wantErr == nil && !bytes.Equal(out.Bytes(), want)) {
		t.Fatalf("ChunkOpener: %v, want %v", err, wantErr)
	}
}

// openChunks opens ct chunk by chunk with o, as a download would: the
// length first, then every chunk.
func openChunks(o *ChunkOpener, ct []byte, out *bytes.Buffer) error {
	if int64(len(ct)) != o.Size() {
		return ErrCorrupt
	}
	out.Reset()
	for i := range o.Chunks() {
		off := i * SealedChunkSize
		sealed := ct[off : off+int64(o.SealedLen(i))]
		pt, err := o.Open(nil, sealed, i)
		if err != nil {
			return err
		}
		out.Write(pt)
	}
	return nil
}
