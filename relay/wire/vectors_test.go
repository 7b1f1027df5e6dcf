package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/sealpost/sealpost/internal/vectors"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// TestVectors walks spec/vectors/relay-frames.json (spec/relay.md §3): each
// frame is decoded under its cap; accepted frames must equal the case's
// JSON form and re-encode to the same bytes; refused ones must get the
// case's code, wrap the matching sentinel, and leave the input unchanged.
func TestVectors(t *testing.T) {
	file, err := vectors.Load[vectors.RelayFrameCase]("relay-frames.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range file.Cases {
		t.Run(c.ID, func(t *testing.T) {
			in := bytes.Clone(c.Frame)
			f, err := Decode(c.Frame, c.MaxFrame)
			if !bytes.Equal(in, c.Frame) {
				t.Fatal("Decode modified its input")
			}
			hasDecoded := len(c.Decoded) != 0 && string(c.Decoded) != "null"
			if c.Result == "ok" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if !hasDecoded {
					t.Fatal("ok case without decoded")
				}
				want := new(Frame)
				if err := (protojson.UnmarshalOptions{}).Unmarshal(c.Decoded, want); err != nil {
					t.Fatal(err)
				}
				if !proto.Equal(f, want) {
					t.Fatalf("decoded %v, want %v", f, want)
				}
				b, err := Encode(f)
				if err != nil || !bytes.Equal(b, c.Frame) {
					t.Fatalf("re-encoding: %x, %v", b, err)
				}
				return
			}
			if hasDecoded {
				t.Fatal("refused case with decoded")
			}
			if err == nil || f != nil {
				t.Fatalf("accepted %v, want %s", f, c.Result)
			}
			code := CodeOf(err)
			if name := strings.ToLower(strings.TrimPrefix(code.String(), "ERROR_CODE_")); name != c.Result {
				t.Fatalf("error %v (code %s), want %s", err, name, c.Result)
			}
			want := ErrMalformed
			if code == ErrorCode_ERROR_CODE_FRAME_TOO_LARGE {
				want = ErrFrameTooLarge
			}
			if !errors.Is(err, want) || !strings.HasPrefix(err.Error(), "wire: ") {
				t.Fatalf("error %q does not wrap %v", err, want)
			}
		})
	}
}
