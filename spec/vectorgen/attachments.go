package main

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/sealpost/sealpost/crypto/stream"
	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/internal/vectors"
	"golang.org/x/crypto/chacha20poly1305"
)

func init() { register("attachments.json", genAttachments) }

// The reference of spec/attachments.md §2, written from the spec against the
// standard library and golang.org/x/crypto, independent of crypto/stream.
const (
	attChunk    = 65536
	attMinPad   = 4096
	attMaxFile  = 1 << 40
	attInline   = 8192 // largest ciphertext given in full
	attSealed   = attChunk + 16
	attLabel    = "sealpost/v1/attachment/stream"
	attPatternN = 251 // plaintext pattern length, prime so no chunk repeats another
)

// attPad is pad(n) of §2.3, computed bit by bit.
func attPad(n int64) int64 {
	l := max(n, attMinPad)
	e := 0
	for int64(1)<<(e+1) <= l {
		e++
	}
	s := 1
	for 1<<(s) <= e {
		s++
	}
	// s = floor(log2 e) + 1
	low := int64(1) << (e - s)
	return (l + low - 1) / low * low
}

func attChunks(n int64) int64 { return (attPad(n) + attChunk - 1) / attChunk }

func attSize(n int64) int64 { return attPad(n) + 16*attChunks(n) }

func attStreamKey(k []byte) []byte {
	sk, err := hkdf.Key(sha256.New, k, nil, attLabel, 32)
	if err != nil {
		panic(err)
	}
	return sk
}

func attNonce(i int64, final bool) []byte {
	nc := make([]byte, 12)
	for j := 10; j >= 0; j-- {
		nc[j] = byte(i)
		i >>= 8
	}
	if final {
		nc[11] = 1
	}
	return nc
}

// attSeal seals padded, chunk by chunk (§2.4); finalAt is the index sealed
// as final (normally the last).
func attSeal(k, padded []byte, finalAt int64) []byte {
	a, err := chacha20poly1305.New(attStreamKey(k))
	if err != nil {
		panic(err)
	}
	out := make([]byte, 0, len(padded)+16*((len(padded)+attChunk-1)/attChunk))
	for i := int64(0); len(padded) > 0; i++ {
		c := padded[:min(attChunk, len(padded))]
		padded = padded[len(c):]
		out = a.Seal(out, attNonce(i, i == finalAt), c, nil)
	}
	return out
}

// attEncrypt is the stream of file under k: padded with zeros, last chunk final.
func attEncrypt(k, file []byte) []byte {
	padded := make([]byte, attPad(int64(len(file))))
	copy(padded, file)
	return attSeal(k, padded, attChunks(int64(len(file)))-1)
}

func attPattern(label string) []byte {
	p := make([]byte, attPatternN)
	io.ReadFull(testrand.New(label), p)
	return p
}

type attRand struct{ r io.Reader }

func (a attRand) bytes(n int) []byte {
	b := make([]byte, n)
	io.ReadFull(a.r, b)
	return b
}

func genAttachments() ([]byte, error) {
	var cases []vectors.AttachmentCase

	// pad(n) and the sizes that follow (§2.3, §2.4).
	for _, p := range []struct {
		n       int64
		comment string
	}{
		{0, "an empty file is padded to MinPadded"},
		{1, ""},
		{4095, ""},
		{4096, "MinPadded"},
		{4097, "E = 12, S = 4: multiples of 256"},
		{4352, "pad(4097)"},
		{65535, ""},
		{65536, "one full chunk"},
		{65537, "E = 16, S = 5: multiples of 2048; two chunks"},
		{131072, "two full chunks"},
		{150000, ""},
		{1000000, "E = 19, S = 5: multiples of 16384"},
		{1 << 22, ""},
		{1<<23 + 1, "E = 23: multiples of 2^18, so two chunks of padding alone before the final one"},
		{1 << 30, "a power of two is its own pad"},
		{1<<30 + 1, "E = 30, S = 5: multiples of 2^25"},
		{1 << 32, "4 GiB"},
		{1<<40 - 1, "E = 39, S = 6: multiples of 2^33"},
		{1 << 40, "MaxFileSize"},
	} {
		c := vectors.AttachmentCase{
			ID: fmt.Sprintf("pad-%d", p.n), Comment: p.comment, Op: "pad", N: p.n,
			PaddedSize: attPad(p.n), Chunks: attChunks(p.n), CiphertextSize: attSize(p.n),
		}
		if stream.PaddedSize(p.n) != c.PaddedSize || stream.ChunkCount(p.n) != c.Chunks || stream.CiphertextSize(p.n) != c.CiphertextSize {
			return nil, fmt.Errorf("%s: crypto/stream disagrees", c.ID)
		}
		cases = append(cases, c)
	}
	cases = append(cases, vectors.AttachmentCase{
		ID: "pad-too-large", Comment: "MaxFileSize + 1: no pointer may give it", Op: "pad", N: attMaxFile + 1, Error: "too_large",
	})
	if stream.PaddedSize(attMaxFile+1) != -1 {
		return nil, errors.New("pad-too-large: crypto/stream disagrees")
	}

	// Streams (§2.2–§2.4).
	rnd := attRand{testrand.New("attachments")}
	type file struct {
		id, comment string
		n           int64
		key, data   []byte
		pattern     bool
	}
	files := []*file{
		{id: "empty", comment: "n = 0: one final chunk of 4096 zero bytes", n: 0},
		{id: "one-byte", comment: "one final chunk of one byte and 4095 of padding", n: 1},
		{id: "min-padded", comment: "n = MinPadded: no padding", n: 4096},
		{id: "past-min-padded", comment: "n = 4097: padded to 4352", n: 4097},
		{id: "one-chunk", comment: "n = ChunkSize: one full final chunk, no padding", n: 65536, pattern: true},
		{id: "two-chunks", comment: "n = ChunkSize + 1: a full chunk, then a final chunk of 2048 bytes", n: 65537, pattern: true},
		{id: "three-chunks", comment: "n = 150000: two full chunks, then a final chunk of 20480 bytes, 1552 of them padding", n: 150000, pattern: true},
		{id: "padding-chunks", comment: "n = 2^23 + 1: chunks 129 and 130 hold padding alone, chunk 131 is final", n: 1<<23 + 1, pattern: true},
	}
	byID := map[string]*file{}
	for _, f := range files {
		f.key = rnd.bytes(32)
		var c vectors.AttachmentCase
		if f.pattern {
			c.PlaintextPattern = attPattern("attachments " + f.id)
			c.N = f.n
			f.data = c.Expand()
		} else {
			f.data = rnd.bytes(int(f.n))
			c.Plaintext = f.data
		}
		byID[f.id] = f
		ct := attEncrypt(f.key, f.data)
		if int64(len(ct)) != attSize(f.n) {
			return nil, fmt.Errorf("%s: reference size", f.id)
		}
		if err := attCheckEncrypt(f.key, f.data, ct); err != nil {
			return nil, fmt.Errorf("%s: %w", f.id, err)
		}
		c.ID, c.Comment, c.Op, c.N = "encrypt-"+f.id, f.comment, "encrypt", f.n
		c.Key, c.StreamKey = f.key, attStreamKey(f.key)
		if len(ct) <= attInline {
			c.Ciphertext = ct
		}
		for off := 0; off < len(ct); off += attSealed {
			end := min(off+attSealed, len(ct))
			c.Tags = append(c.Tags, ct[end-16:end])
		}
		d := sha256.Sum256(ct)
		c.Digest = d[:]
		cases = append(cases, c)
	}

	// Ciphertexts a recipient opens or refuses (§2.5).
	xor := func(off int64) []vectors.AttachmentEdit {
		return []vectors.AttachmentEdit{{Op: "xor", Offset: off, Data: []byte{0x01}}}
	}
	trunc := func(size int64) []vectors.AttachmentEdit {
		return []vectors.AttachmentEdit{{Op: "truncate", Offset: size}}
	}
	one, full := byID["one-byte"], byID["one-chunk"]
	otherKey := rnd.bytes(32)

	// The first file's byte with nonzero padding, sealed as a sender would.
	nonzeroPad := func(at int64) []byte {
		padded := make([]byte, attMinPad)
		copy(padded, one.data)
		padded[at] = 0x01
		return attSeal(one.key, padded, 0)
	}
	// A final full chunk followed by a chunk sealed at index 1 as final.
	ext, err := chacha20poly1305.New(attStreamKey(full.key))
	if err != nil {
		return nil, err
	}
	extension := ext.Seal(nil, attNonce(1, true), make([]byte, 4096), nil)

	type open struct {
		id, comment string
		from        string
		edits       []vectors.AttachmentEdit
		ct          []byte
		key         []byte
		n           int64
		err         string
	}
	opens := []open{
		{id: "accept-larger-n-same-padding", comment: "n = 2 for the ciphertext of a 1-byte file opens to its byte and a zero: only the pointer binds n within a padded size (spec/attachments.md §3)",
			from: "one-byte", n: 2},
		{id: "refuse-empty", comment: "no ciphertext at all", from: "empty", edits: trunc(0), n: 0, err: "corrupt"},
		{id: "refuse-missing-byte", comment: "one byte short", from: "one-byte", edits: trunc(4111), n: 1, err: "corrupt"},
		{id: "refuse-extra-byte", comment: "a zero byte appended", from: "one-byte", edits: []vectors.AttachmentEdit{{Op: "append", Data: []byte{0}}}, n: 1, err: "corrupt"},
		{id: "refuse-other-padded-size", comment: "n = 4097: size(C) is 4368, not 4112", from: "one-byte", n: 4097, err: "corrupt"},
		{id: "refuse-wrong-key", comment: "opened with another key", from: "one-byte", key: otherKey, n: 1, err: "corrupt"},
		{id: "refuse-tag-bit-flipped", comment: "last bit of the tag", from: "one-byte", edits: xor(4111), n: 1, err: "corrupt"},
		{id: "refuse-body-bit-flipped", comment: "first byte of the sealed chunk", from: "one-byte", edits: xor(0), n: 1, err: "corrupt"},
		{id: "refuse-middle-chunk-bit-flipped", comment: "a byte of chunk 1's body", from: "three-chunks", edits: xor(attSealed + 100), n: 150000, err: "corrupt"},
		{id: "refuse-nonzero-padding-first", comment: "the first padding byte (offset n) is 0x01, sealed by the key's holder", ct: nonzeroPad(1), key: one.key, n: 1, err: "corrupt"},
		{id: "refuse-nonzero-padding-last", comment: "the last padding byte is 0x01, sealed by the key's holder", ct: nonzeroPad(attMinPad - 1), key: one.key, n: 1, err: "corrupt"},
		{id: "refuse-truncated-chunk", comment: "the final chunk removed: a chunk short", from: "three-chunks", edits: trunc(2 * attSealed), n: 150000, err: "corrupt"},
		{id: "refuse-cut-at-chunk-boundary", comment: "the final chunk removed and n = 131072, so the length matches: chunk 1 was not sealed as final",
			from: "three-chunks", edits: trunc(2 * attSealed), n: 131072, err: "corrupt"},
		{id: "refuse-chunks-swapped", comment: "chunks 0 and 1 exchanged", from: "three-chunks",
			edits: []vectors.AttachmentEdit{{Op: "swap", Offset: 0, With: attSealed, Length: attSealed}}, n: 150000, err: "corrupt"},
		{id: "refuse-extended", comment: "a final full chunk followed by a valid final chunk 1 of 4096 zero bytes, n = 69632: chunk 0 was sealed as final",
			from: "one-chunk", edits: []vectors.AttachmentEdit{{Op: "append", Data: extension}}, n: 69632, err: "corrupt"},
		{id: "refuse-too-large", comment: "n = MaxFileSize + 1", from: "one-byte", n: attMaxFile + 1, err: "too_large"},
	}
	for _, o := range opens {
		c := vectors.AttachmentCase{ID: o.id, Comment: o.comment, Op: "open", N: o.n, Edits: o.edits, Error: o.err}
		ct, key := o.ct, o.key
		if o.from != "" {
			f := byID[o.from]
			c.From = "encrypt-" + f.id
			var err error
			if ct, err = vectors.ApplyEdits(attEncrypt(f.key, f.data), o.edits); err != nil {
				return nil, fmt.Errorf("%s: %w", o.id, err)
			}
			if key == nil {
				key = f.key
			}
		} else {
			c.Ciphertext = ct
		}
		c.Key = key
		d := sha256.Sum256(ct)
		c.Digest = d[:]
		want, ok := attOpen(key, ct, o.n)
		if ok != (o.err == "") {
			return nil, fmt.Errorf("%s: the reference gives ok = %v", o.id, ok)
		}
		if ok {
			c.Plaintext = want
		}
		if err := attCheckOpen(key, ct, o.n, want, o.err); err != nil {
			return nil, fmt.Errorf("%s: %w", o.id, err)
		}
		cases = append(cases, c)
	}

	return encode(&vectors.File[vectors.AttachmentCase]{
		Description: "Sealpost attachment streams. pad cases give pad(n), the chunk count and size(C) of a file of n bytes; " +
			"encrypt cases the stream key, the ciphertext (in full when at most 8192 bytes), every chunk's tag and the digest " +
			"SHA-256(C) of a file given as plaintext or as plaintext_pattern repeated to n bytes; open cases a ciphertext " +
			"(given, or the from case's ciphertext changed by edits in order) with its digest, and the plaintext or the refusal.",
		Spec:  "attachments.md",
		Cases: cases,
	})
}

// attOpen is the reference recipient (§2.5): the plaintext, or false.
func attOpen(k, ct []byte, n int64) ([]byte, bool) {
	if n < 0 || n > attMaxFile || int64(len(ct)) != attSize(n) {
		return nil, false
	}
	a, err := chacha20poly1305.New(attStreamKey(k))
	if err != nil {
		panic(err)
	}
	pt := make([]byte, 0, len(ct))
	last := attChunks(n) - 1
	for i := int64(0); len(ct) > 0; i++ {
		c := ct[:min(attSealed, len(ct))]
		ct = ct[len(c):]
		if pt, err = a.Open(pt, attNonce(i, i == last), c, nil); err != nil {
			return nil, false
		}
	}
	if !bytes.Equal(pt[n:], make([]byte, len(pt)-int(n))) {
		return nil, false
	}
	return pt[:n], true
}

// attCheckEncrypt checks that crypto/stream's Writer writes ct.
func attCheckEncrypt(k, data, ct []byte) error {
	var out bytes.Buffer
	w := stream.NewWriter((*[32]byte)(k), &out)
	if _, err := w.Write(data); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	if !bytes.Equal(out.Bytes(), ct) {
		return errors.New("crypto/stream's Writer disagrees")
	}
	return nil
}

// attCheckOpen checks that crypto/stream's Decrypt and Reader give want, or
// refuse with the named error.
func attCheckOpen(k, ct []byte, n int64, want []byte, name string) error {
	wantErr := map[string]error{"": nil, "corrupt": stream.ErrCorrupt, "too_large": stream.ErrTooLarge}[name]
	var out bytes.Buffer
	err := stream.Decrypt(&out, (*[32]byte)(k), bytes.NewReader(ct), n)
	if !errors.Is(err, wantErr) || (err == nil && !bytes.Equal(out.Bytes(), want)) {
		return fmt.Errorf("crypto/stream's Decrypt gives %v", err)
	}
	r, err := stream.NewReader((*[32]byte)(k), bytes.NewReader(ct), n)
	if err == nil {
		var got []byte
		got, err = io.ReadAll(r)
		if err == nil && !bytes.Equal(got, want) {
			return errors.New("crypto/stream's Reader disagrees")
		}
	}
	if !errors.Is(err, wantErr) {
		return fmt.Errorf("crypto/stream's Reader gives %v", err)
	}
	return nil
}
