package vectors

import (
	"bytes"
	"fmt"
)

// This file defines the cases of spec/vectors/attachments.json
// (spec/attachments.md §7).

// AttachmentCase is one case: Op "pad" (the sizes of a file of n bytes),
// "encrypt" (the stream of a file) or "open" (a ciphertext a recipient must
// open or refuse).
type AttachmentCase struct {
	ID      string `json:"id"`
	Comment string `json:"comment"`
	Op      string `json:"op"`
	// N is the file's length n.
	N int64 `json:"n"`
	// PaddedSize, Chunks and CiphertextSize are pad(n), N and size(C)
	// (spec/attachments.md §2.3, §2.4): given by pad cases that succeed.
	PaddedSize     int64 `json:"padded_size,omitempty"`
	Chunks         int64 `json:"chunks,omitempty"`
	CiphertextSize int64 `json:"ciphertext_size,omitempty"`
	// Key is the attachment key K; StreamKey the stream key SK (encrypt).
	Key       Hex `json:"key,omitempty"`
	StreamKey Hex `json:"stream_key,omitempty"`
	// The file: Plaintext, or PlaintextPattern repeated and cut to N bytes
	// (see Expand). Encrypt's input, open's output when accepted.
	Plaintext        Hex `json:"plaintext,omitempty"`
	PlaintextPattern Hex `json:"plaintext_pattern,omitempty"`
	// Ciphertext is the whole ciphertext C: encrypt's output when it is at
	// most 8192 bytes; open's input when the case has no From.
	Ciphertext Hex `json:"ciphertext,omitempty"`
	// Tags are the Poly1305 tags of the sealed chunks, in order (encrypt).
	Tags []Hex `json:"tags,omitempty"`
	// From is the id of the encrypt case whose ciphertext, changed by Edits in
	// order, is open's input.
	From  string           `json:"from,omitempty"`
	Edits []AttachmentEdit `json:"edits,omitempty"`
	// Digest is SHA-256 of the ciphertext: encrypt's output, open's input.
	Digest Hex `json:"digest,omitempty"`
	// Error is "" when accepted, else a name of spec/errors.md:
	// "corrupt" or "too_large".
	Error string `json:"error"`
}

// AttachmentEdit changes a ciphertext (spec/attachments.md §7):
//
//	truncate  keep its first Offset bytes
//	append    append Data
//	xor       XOR Data into the bytes from Offset
//	swap      exchange the Length bytes at Offset with the Length bytes at With
type AttachmentEdit struct {
	Op     string `json:"op"`
	Offset int64  `json:"offset,omitempty"`
	With   int64  `json:"with,omitempty"`
	Length int64  `json:"length,omitempty"`
	Data   Hex    `json:"data,omitempty"`
}

// Expand returns the case's file: Plaintext, or PlaintextPattern repeated
// and cut to N bytes.
func (c AttachmentCase) Expand() []byte {
	if len(c.PlaintextPattern) == 0 {
		return c.Plaintext
	}
	return bytes.Repeat(c.PlaintextPattern, int(c.N)/len(c.PlaintextPattern)+1)[:c.N]
}

// ApplyEdits returns a copy of ct changed by edits in order. It fails on an
// edit it does not know or out of range.
func ApplyEdits(ct []byte, edits []AttachmentEdit) ([]byte, error) {
	out := bytes.Clone(ct)
	for _, e := range edits {
		size := int64(len(out))
		switch e.Op {
		case "truncate":
			if e.Offset < 0 || e.Offset > size {
				return nil, fmt.Errorf("vectors: truncate to %d of %d bytes", e.Offset, size)
			}
			out = out[:e.Offset]
		case "append":
			out = append(out, e.Data...)
		case "xor":
			if e.Offset < 0 || e.Offset+int64(len(e.Data)) > size {
				return nil, fmt.Errorf("vectors: xor at %d of %d bytes", e.Offset, size)
			}
			for i, b := range e.Data {
				out[e.Offset+int64(i)] ^= b
			}
		case "swap":
			a, b, l := e.Offset, e.With, e.Length
			if a < 0 || b < 0 || l <= 0 || max(a, b)+l > size || (a < b+l && b < a+l) {
				return nil, fmt.Errorf("vectors: swap %d and %d (%d bytes) of %d bytes", a, b, l, size)
			}
			tmp := bytes.Clone(out[a : a+l])
			copy(out[a:a+l], out[b:b+l])
			copy(out[b:b+l], tmp)
		default:
			return nil, fmt.Errorf("vectors: unknown edit %q", e.Op)
		}
	}
	return out, nil
}
