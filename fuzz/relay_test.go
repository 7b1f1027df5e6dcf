package fuzz

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/internal/vectors"
	"github.com/sealpost/sealpost/relay/wire"
	"google.golang.org/protobuf/proto"
)

// FuzzRelayFrame decodes arbitrary bytes as a relay frame (relay/wire,
// spec/relay.md §3) with the default frame cap. Seeds are every frame of
// spec/vectors/relay-frames.json, and each accepted one also truncated, with
// a byte appended, with an unknown field appended, and doubled.
//
// Checks: no panic; the input is not modified; a refusal returns no frame
// and an error wrapping ErrFrameTooLarge (exactly when the input is over
// the cap) or ErrMalformed, with the matching code; an accepted frame
// passes Check, re-encodes to exactly the input (canonical encoding,
// deterministic marshalling), and decodes again to an equal frame; the same
// input under a cap one byte below its length is refused as too large.
func FuzzRelayFrame(f *testing.F) {
	file, err := vectors.Load[vectors.RelayFrameCase]("relay-frames.json")
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range file.Cases {
		b := []byte(c.Frame)
		f.Add(bytes.Clone(b))
		if c.Result != "ok" {
			continue
		}
		if _, err := wire.Decode(b, 0); err != nil {
			f.Fatalf("%s: ok vector refused: %v", c.ID, err)
		}
		f.Add(bytes.Clone(b[:len(b)-1]))
		f.Add(append(bytes.Clone(b), 0))
		f.Add(append(bytes.Clone(b), 0xf8, 0x06, 0x01)) // field 99, varint 1
		f.Add(append(bytes.Clone(b), b...))
	}
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		fr, err := wire.Decode(data, 0)
		if !bytes.Equal(in, data) {
			t.Fatal("input modified")
		}
		if err != nil {
			over := len(data) > wire.DefaultMaxFrame
			switch {
			case fr != nil:
				t.Fatal("refusal with a frame")
			case over != errors.Is(err, wire.ErrFrameTooLarge):
				t.Fatalf("length %d: refusal %v", len(data), err)
			case !over && !errors.Is(err, wire.ErrMalformed):
				t.Fatalf("refusal of an undocumented kind: %v", err)
			case over && wire.CodeOf(err) != wire.ErrorCode_ERROR_CODE_FRAME_TOO_LARGE,
				!over && wire.CodeOf(err) != wire.ErrorCode_ERROR_CODE_MALFORMED:
				t.Fatalf("refusal %v with code %v", err, wire.CodeOf(err))
			}
			return
		}
		if err := wire.Check(fr); err != nil {
			t.Fatalf("accepted frame fails Check: %v", err)
		}
		enc, err := wire.Encode(fr)
		if err != nil {
			t.Fatalf("accepted frame does not encode: %v", err)
		}
		if !bytes.Equal(enc, data) {
			t.Fatalf("accepted %x re-encodes to %x", data, enc)
		}
		again, err := wire.Decode(enc, len(enc))
		if err != nil || !proto.Equal(fr, again) {
			t.Fatalf("re-encoded frame decodes to %v, %v", again, err)
		}
		if len(data) > 1 {
			if _, err := wire.Decode(data, len(data)-1); !errors.Is(err, wire.ErrFrameTooLarge) {
				t.Fatalf("frame over a cap of %d: %v", len(data)-1, err)
			}
		}
	})
}
