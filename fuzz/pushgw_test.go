package fuzz

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/push/gateway"
)

// FuzzPushGatewayToken parses arbitrary gateway tokens
// (gateway.ParseToken, spec/push.md §5.2). Seeds are hand-built tokens of
// both platforms and environments and the refusals the layout names.
//
// Checks: no panic; a refusal is ErrBadToken; an accepted token is at
// most MaxTokenSize bytes and encodes back to the same bytes.
func FuzzPushGatewayToken(f *testing.F) {
	for _, s := range [][]byte{
		{1, 1, 0, 0xa1, 0xb2, 0xc3, 0xd4}, {1, 1, 1, 0xff},
		[]byte("\x01\x02\x00fcm-token:APA91bH_x.y"),
		{}, {1}, {1, 1, 0}, {0, 1, 0, 1}, {2, 1, 0, 1}, {1, 0, 0, 1}, {1, 3, 0, 1},
		{1, 1, 2, 1}, {1, 2, 1, 'a'}, {1, 2, 0, ' '}, {1, 2, 0, 0xff},
		append([]byte{1, 1, 0}, make([]byte, 101)...),
		append([]byte{1, 2, 0}, bytes.Repeat([]byte{'a'}, gateway.MaxTokenSize-3)...),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := gateway.ParseToken(b)
		if err != nil {
			if !errors.Is(err, gateway.ErrBadToken) {
				t.Fatalf("%x: %v, not ErrBadToken", b, err)
			}
			return
		}
		if len(b) > gateway.MaxTokenSize {
			t.Fatalf("accepted %d bytes", len(b))
		}
		again, err := tok.Encode()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("%x parses to %+v, which encodes to %x, %v", b, tok, again, err)
		}
	})
}
