package relay

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/sealpost/sealpost/internal/conformance"
	"github.com/sealpost/sealpost/internal/vectors"
	"github.com/sealpost/sealpost/keyserver/revocation"
	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/wire"
)

// TestRelayIDVectors checks the derivations of spec/vectors/relay-ids.json
// that the relay makes: the revoked-device hash it matches connections
// against (spec/keyserver.md §5.9) and the dedup id of each item of a split
// send (spec/relay.md §7.2). relay/wire checks the address cases.
func TestRelayIDVectors(t *testing.T) {
	f, err := vectors.Load[vectors.RelayIDsCase]("relay-ids.json")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, c := range f.Cases {
		t.Run(c.ID, func(t *testing.T) {
			switch {
			case c.Type == "address" && c.Address != nil && c.RevokedDevice == nil && c.QuotaItem == nil:
			case c.Type == "revoked-device" && c.RevokedDevice != nil && c.Address == nil && c.QuotaItem == nil:
				r := c.RevokedDevice
				want := append([]byte(revocation.Label+"\x00"), wire.FormatAddress(r.Handle, r.Device)...)
				if !bytes.Equal(r.Preimage, want) {
					t.Fatalf("preimage %x, want %x", r.Preimage, want)
				}
				if h := revocation.DeviceHash(r.Handle, r.Device); !bytes.Equal(h[:], r.DeviceHash) {
					t.Fatalf("device hash %x, want %x", h, r.DeviceHash)
				}
			case c.Type == "quota-item" && c.QuotaItem != nil && c.Address == nil && c.RevokedDevice == nil:
				q := c.QuotaItem
				if id := itemID([store.MessageIDSize]byte(q.MessageID), int(q.Index)); !bytes.Equal(id[:], q.ItemID) {
					t.Fatalf("item id %x, want %x", id, q.ItemID)
				}
			default:
				t.Fatalf("type %q with other fields set", c.Type)
			}
			seen[c.Type]++
		})
	}
	if len(seen) != 3 {
		t.Fatalf("cases by type: %v", seen)
	}
}

// TestConformance answers the questions of spec/conformance.md for
// relay-ids.json with the relay's code.
func TestConformance(t *testing.T) {
	conformance.Test(t, conformance.RelayIDsSuite(), conformanceAnswer)
}

func conformanceAnswer(req *conformance.Request) *conformance.Answer {
	typ, ok := conformance.CaseType(req.Case)
	if req.File != "relay-ids.json" || !ok {
		return conformance.Unsupported()
	}
	switch typ {
	case "address":
		var q conformance.AddressQuestion
		if err := json.Unmarshal(req.Case, &q); err != nil {
			return conformance.Error(conformance.BadRequest)
		}
		h, d, err := wire.ParseAddress(q.Address)
		if err != nil {
			return conformance.Error("malformed")
		}
		return conformance.Result(&conformance.AddressResult{Handle: h, Device: d})
	case "revoked-device":
		var q conformance.RevokedDeviceQuestion
		if err := json.Unmarshal(req.Case, &q); err != nil {
			return conformance.Error(conformance.BadRequest)
		}
		h := revocation.DeviceHash(q.Handle, q.Device)
		return conformance.Result(&conformance.RevokedDeviceResult{DeviceHash: h[:]})
	case "quota-item":
		var q conformance.QuotaItemQuestion
		if err := json.Unmarshal(req.Case, &q); err != nil || len(q.MessageID) != store.MessageIDSize {
			return conformance.Error(conformance.BadRequest)
		}
		id := itemID([store.MessageIDSize]byte(q.MessageID), int(q.Index))
		return conformance.Result(&conformance.QuotaItemResult{ItemID: id[:]})
	}
	return conformance.Unsupported()
}
