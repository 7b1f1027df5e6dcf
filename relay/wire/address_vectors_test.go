package wire

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/internal/vectors"
)

// TestAddressVectors walks the address cases of spec/vectors/relay-ids.json
// (spec/relay.md §4): valid addresses parse to their handle and device and
// format back to the same bytes; the others are refused with
// ErrInvalidAddress.
func TestAddressVectors(t *testing.T) {
	f, err := vectors.Load[vectors.RelayIDsCase]("relay-ids.json")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range f.Cases {
		if c.Type != "address" {
			continue
		}
		n++
		t.Run(c.ID, func(t *testing.T) {
			a := c.Address
			if a == nil || c.RevokedDevice != nil || c.QuotaItem != nil {
				t.Fatal("address case without exactly its field")
			}
			handle, device, err := ParseAddress(a.Address)
			if a.Error != "" {
				if a.Error != "malformed" || !errors.Is(err, ErrInvalidAddress) || handle != "" || device != 0 {
					t.Fatalf("parsed %q %d, %v; want %s", handle, device, err, a.Error)
				}
				if CheckAddress(a.Address) == nil {
					t.Fatal("CheckAddress accepts it")
				}
				return
			}
			if err != nil || handle != a.Handle || device != a.Device {
				t.Fatalf("parsed %q %d, %v; want %q %d", handle, device, err, a.Handle, a.Device)
			}
			if b := FormatAddress(a.Handle, a.Device); !bytes.Equal(b, a.Address) {
				t.Fatalf("formatted %x, want %x", b, a.Address)
			}
		})
	}
	if n == 0 {
		t.Fatal("no address cases")
	}
}
