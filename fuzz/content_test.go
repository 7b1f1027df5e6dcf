package fuzz

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/client/content"
	"github.com/sealpost/sealpost/internal/vectors"
	"google.golang.org/protobuf/proto"
)

// FuzzContent parses arbitrary bytes as a Content (client/content,
// spec/content.md §3.2, §4, §5). Seeds are every encoding of
// spec/vectors/content.json, and each accepted one also truncated, with an
// unknown field appended, with a known field appended, and doubled (the
// variants only of those up to 4096 bytes).
//
// Checks: no panic; the input is not modified; a refusal returns no
// Content and an error wrapping exactly the sentinels of spec/errors.md
// §3.17, ErrTooLarge whenever the input is over MaxSize; an accepted input
// marshals (m1 = Marshal(Parse(x))), m1 parses to a value equal to the
// first but for the order of unknown fields, and marshals to m1 again
// (a fixed point after one round); when x is a vector's canonical encoding,
// m1 is x.
func FuzzContent(f *testing.F) {
	file, err := vectors.Load[vectors.ContentCase]("content.json")
	if err != nil {
		f.Fatal(err)
	}
	canonical := map[string]bool{} // the encodings content.json gives as canonical
	for _, c := range file.Cases {
		b := []byte(c.Encoding)
		f.Add(bytes.Clone(b))
		if c.Error != "" {
			continue
		}
		if _, err := content.Parse(b); err != nil {
			f.Fatalf("%s: accepted vector refused: %v", c.ID, err)
		}
		if c.Canonical == nil {
			canonical[string(b)] = true
		} else {
			canonical[string(c.Canonical)] = true
		}
		if len(b) > 4096 {
			continue // the variants of the large cases add only slow inputs
		}
		if len(b) > 0 {
			f.Add(bytes.Clone(b[:len(b)-1]))
		}
		f.Add(append(bytes.Clone(b), 0xf8, 0x06, 0x01))             // field 99, varint 1
		f.Add(append(bytes.Clone(b), 0x42, 0x00))                   // presence
		f.Add(append(bytes.Clone(b), 0x82, 0x01, 0x02, 0x0a, 0x00)) // reply_to with an empty id
		f.Add(append(bytes.Clone(b), b...))
	}
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		c, err := content.Parse(data)
		if !bytes.Equal(in, data) {
			t.Fatal("input modified")
		}
		if err != nil {
			if c != nil {
				t.Fatal("refusal with a Content")
			}
			n := 0
			for _, s := range []error{content.ErrMalformed, content.ErrTooLarge, content.ErrInvalidUTF8, content.ErrOutOfRange} {
				if errors.Is(err, s) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("refusal not of exactly one named kind: %v", err)
			}
			if len(data) > content.MaxSize && !errors.Is(err, content.ErrTooLarge) {
				t.Fatalf("%d bytes: %v", len(data), err)
			}
			return
		}
		m1, err := content.Marshal(c)
		if err != nil {
			t.Fatalf("accepted Content does not marshal: %v", err)
		}
		c2, err := content.Parse(m1)
		if err != nil {
			t.Fatalf("canonical encoding %x refused: %v", m1, err)
		}
		if c2.Kind() != c.Kind() || !proto.Equal(stripTopUnknown(c.Content), stripTopUnknown(c2.Content)) {
			t.Fatalf("reparsed %v, want %v", c2, c)
		}
		if len(c2.Unknown()) != len(c.Unknown()) {
			t.Fatalf("unknown fields %x, then %x", c.Unknown(), c2.Unknown())
		}
		m2, err := content.Marshal(c2)
		if err != nil || !bytes.Equal(m2, m1) {
			t.Fatalf("not a fixed point: %x, then %x (%v)", m1, m2, err)
		}
		if canonical[string(data)] && !bytes.Equal(m1, data) {
			t.Fatalf("canonical vector re-marshalled to %x", m1)
		}
	})
}

func stripTopUnknown(m proto.Message) proto.Message {
	m = proto.Clone(m)
	m.ProtoReflect().SetUnknown(nil)
	return m
}
