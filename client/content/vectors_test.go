package content

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/internal/vectors"
	"google.golang.org/protobuf/proto"
)

// errorNames maps the names of spec/errors.md §3.17 to the sentinels.
var errorNames = map[string]error{
	"malformed":    ErrMalformed,
	"too_large":    ErrTooLarge,
	"invalid_utf8": ErrInvalidUTF8,
	"out_of_range": ErrOutOfRange,
}

// TestVectors walks spec/vectors/content.json (spec/content.md §7): a
// refused case gets its named error and no Content; an accepted one has
// its kind and unknown fields, marshals to its canonical encoding, and
// that parses to an equal value. Parse never modifies its input.
func TestVectors(t *testing.T) {
	file, err := vectors.Load[vectors.ContentCase]("content.json")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range file.Cases {
		t.Run(c.ID, func(t *testing.T) {
			in := bytes.Clone(c.Encoding)
			m, err := Parse(c.Encoding)
			if !bytes.Equal(in, c.Encoding) {
				t.Fatal("Parse modified its input")
			}
			if c.Error != "" {
				want := errorNames[c.Error]
				if want == nil {
					t.Fatalf("error %q is not a name of spec/errors.md §3.17", c.Error)
				}
				if m != nil || !errors.Is(err, want) {
					t.Fatalf("Parse: %v, %v; want %s", m, err, c.Error)
				}
				if c.Kind != "" || c.Canonical != nil || c.Unknown != nil {
					t.Fatal("refused case with parsed fields")
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if got := m.Kind().String(); got != c.Kind {
				t.Fatalf("kind %s, want %s", got, c.Kind)
			}
			seen[c.Kind] = true
			if !bytes.Equal(m.Unknown(), c.Unknown) {
				t.Fatalf("unknown %x, want %x", m.Unknown(), c.Unknown)
			}
			want := c.Canonical
			if want == nil {
				want = c.Encoding
			} else if bytes.Equal(want, c.Encoding) {
				t.Fatal("canonical given and equal to encoding")
			}
			b, err := Marshal(m)
			if err != nil || !bytes.Equal(b, want) {
				t.Fatalf("Marshal: %x, %v; want %x", b, err, want)
			}
			m2, err := Parse(b)
			if err != nil {
				t.Fatalf("canonical encoding refused: %v", err)
			}
			if !proto.Equal(stripUnknown(m.Content), stripUnknown(m2.Content)) {
				t.Fatalf("reparsed %v, want %v", m2, m)
			}
		})
	}
	for k := KindUnknown; k <= KindApp; k++ {
		if !seen[k.String()] {
			t.Errorf("no accepted vector of kind %s", k)
		}
	}
}

// stripUnknown returns a copy of m without its top-level unknown fields,
// whose bytes Marshal may reorder (spec/content.md §3.1).
func stripUnknown(m proto.Message) proto.Message {
	m = proto.Clone(m)
	m.ProtoReflect().SetUnknown(nil)
	return m
}
