package conformance

import (
	"fmt"

	"github.com/sealpost/sealpost/internal/vectors"
)

// Suite is the conformance checks of one vector file.
type Suite struct {
	File   string
	Checks func() ([]Check, error)
}

// Suites returns every supported vector file's suite, in the order the
// driver runs them (spec/conformance.md §3).
func Suites() []*Suite {
	return []*Suite{ClientSuite(), RelayIDsSuite(), KeysSuite(), SealSuite(), ContentSuite()}
}

// Questions and results of client.json (spec/conformance.md §3.1).

// PayloadQuestion asks to parse a payload and decide its acceptance.
type PayloadQuestion struct {
	Type     string      `json:"type"`
	Input    vectors.Hex `json:"input"`
	Receiver string      `json:"receiver"`
	Sender   string      `json:"sender"`
}

// PayloadResult is a parsed payload and whether it is accepted.
// ContentKind is the kind of a version 2 body's Content, "" for version 1.
type PayloadResult struct {
	Version     int         `json:"version"`
	Kind        string      `json:"kind"`
	MessageID   vectors.Hex `json:"message_id"`
	Sent        int64       `json:"sent"`
	To          string      `json:"to"`
	Body        vectors.Hex `json:"body"`
	ContentKind string      `json:"content_kind"`
	Accepted    bool        `json:"accepted"`
}

// RelaySendIDQuestion asks for the relay id of one queued envelope.
type RelaySendIDQuestion struct {
	Type      string      `json:"type"`
	MessageID vectors.Hex `json:"message_id"`
	Handle    string      `json:"handle"`
	Device    uint32      `json:"device"`
}

// RelaySendIDResult is the 16-byte relay id.
type RelaySendIDResult struct {
	RelayID vectors.Hex `json:"relay_id"`
}

// ClientSuite checks client.json.
func ClientSuite() *Suite {
	return &Suite{File: "client.json", Checks: func() ([]Check, error) {
		f, err := vectors.Load[vectors.ClientCase]("client.json")
		if err != nil {
			return nil, err
		}
		var cs []Check
		for _, c := range f.Cases {
			switch {
			case c.Type == "payload" && c.Payload != nil:
				p := c.Payload
				ch := Check{ID: c.ID, Case: &PayloadQuestion{Type: c.Type, Input: p.Input, Receiver: p.Receiver, Sender: p.Sender}, Error: p.Error}
				if p.Error == "" {
					ch.Want = &PayloadResult{Version: p.Version, Kind: p.Kind, MessageID: p.MessageID, Sent: p.Sent, To: p.To, Body: nonNil(p.Body),
						ContentKind: p.ContentKind, Accepted: p.Accepted}
				}
				cs = append(cs, ch)
			case c.Type == "relay-send-id" && c.RelaySendID != nil:
				r := c.RelaySendID
				cs = append(cs, Check{ID: c.ID, Case: &RelaySendIDQuestion{Type: c.Type, MessageID: r.MessageID, Handle: r.Handle, Device: r.Device},
					Want: &RelaySendIDResult{RelayID: r.RelayID}})
			default:
				return nil, fmt.Errorf("conformance: client.json %s: unknown type %q", c.ID, c.Type)
			}
		}
		return cs, nil
	}}
}

// Questions and results of relay-ids.json (spec/conformance.md §3.2).

// AddressQuestion asks to parse a device address.
type AddressQuestion struct {
	Type    string      `json:"type"`
	Address vectors.Hex `json:"address"`
}

// AddressResult is the handle and device an address names.
type AddressResult struct {
	Handle string `json:"handle"`
	Device uint32 `json:"device"`
}

// RevokedDeviceQuestion asks for the revocation feed's hash of a device.
type RevokedDeviceQuestion struct {
	Type   string `json:"type"`
	Handle string `json:"handle"`
	Device uint32 `json:"device"`
}

// RevokedDeviceResult is the 32-byte hash.
type RevokedDeviceResult struct {
	DeviceHash vectors.Hex `json:"device_hash"`
}

// QuotaItemQuestion asks for the dedup id of an item of a split send.
type QuotaItemQuestion struct {
	Type      string      `json:"type"`
	MessageID vectors.Hex `json:"message_id"`
	Index     uint16      `json:"index"`
}

// QuotaItemResult is the 16-byte item id.
type QuotaItemResult struct {
	ItemID vectors.Hex `json:"item_id"`
}

// RelayIDsSuite checks relay-ids.json.
func RelayIDsSuite() *Suite {
	return &Suite{File: "relay-ids.json", Checks: func() ([]Check, error) {
		f, err := vectors.Load[vectors.RelayIDsCase]("relay-ids.json")
		if err != nil {
			return nil, err
		}
		var cs []Check
		for _, c := range f.Cases {
			switch {
			case c.Type == "address" && c.Address != nil:
				a := c.Address
				ch := Check{ID: c.ID, Case: &AddressQuestion{Type: c.Type, Address: nonNil(a.Address)}, Error: a.Error}
				if a.Error == "" {
					ch.Want = &AddressResult{Handle: a.Handle, Device: a.Device}
				}
				cs = append(cs, ch)
			case c.Type == "revoked-device" && c.RevokedDevice != nil:
				r := c.RevokedDevice
				cs = append(cs, Check{ID: c.ID, Case: &RevokedDeviceQuestion{Type: c.Type, Handle: r.Handle, Device: r.Device},
					Want: &RevokedDeviceResult{DeviceHash: r.DeviceHash}})
			case c.Type == "quota-item" && c.QuotaItem != nil:
				q := c.QuotaItem
				cs = append(cs, Check{ID: c.ID, Case: &QuotaItemQuestion{Type: c.Type, MessageID: q.MessageID, Index: q.Index},
					Want: &QuotaItemResult{ItemID: q.ItemID}})
			default:
				return nil, fmt.Errorf("conformance: relay-ids.json %s: unknown type %q", c.ID, c.Type)
			}
		}
		return cs, nil
	}}
}

// nonNil makes an absent byte string an empty one, so it is written "".
func nonNil(b vectors.Hex) vectors.Hex {
	if b == nil {
		return vectors.Hex{}
	}
	return b
}
