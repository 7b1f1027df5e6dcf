package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/internal/conformance"
	"github.com/sealpost/sealpost/internal/vectors"
	"github.com/sealpost/sealpost/relay/wire"
)

// TestClientVectors walks spec/vectors/client.json: each payload is parsed
// (spec/client.md §2.1) and, when it parses, re-encodes to the same bytes
// and is accepted or not as §2.2 says; each relay send id is §3.3's.
func TestClientVectors(t *testing.T) {
	f, err := vectors.Load[vectors.ClientCase]("client.json")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, c := range f.Cases {
		t.Run(c.ID, func(t *testing.T) {
			switch {
			case c.Type == "payload" && c.Payload != nil && c.RelaySendID == nil:
				checkPayloadVector(t, c.Payload)
			case c.Type == "relay-send-id" && c.RelaySendID != nil && c.Payload == nil:
				r := c.RelaySendID
				if a := wire.FormatAddress(r.Handle, r.Device); !bytes.Equal(a, r.Address) || !bytes.HasSuffix(r.Preimage, a) {
					t.Fatalf("address %x, case says %x (preimage %x)", a, r.Address, r.Preimage)
				}
				if got := relaySendID(MessageID(r.MessageID), r.Handle, r.Device); !bytes.Equal(got[:], r.RelayID) {
					t.Fatalf("relay id %x, want %x", got, r.RelayID)
				}
			default:
				t.Fatalf("type %q with other fields set", c.Type)
			}
			seen[c.Type]++
		})
	}
	if seen["payload"] == 0 || seen["relay-send-id"] == 0 {
		t.Fatalf("cases by type: %v", seen)
	}
}

func checkPayloadVector(t *testing.T, c *vectors.ClientPayloadCase) {
	in := bytes.Clone(c.Input)
	p, err := parsePayload(c.Input)
	if !bytes.Equal(in, c.Input) {
		t.Fatal("parsePayload modified its input")
	}
	if c.Error != "" {
		if c.Error != "malformed" || !errors.Is(err, errBadPayload) || p != nil {
			t.Fatalf("parsed %+v, %v; want %s", p, err, c.Error)
		}
		if c.Accepted || c.Kind != "" || c.To != "" || c.MessageID != nil || c.Body != nil || c.Sent != 0 {
			t.Fatal("malformed case with parsed fields")
		}
		return
	}
	if err != nil {
		t.Fatalf("refused: %v", err)
	}
	if got := kindName(p.kind); got != c.Kind || !bytes.Equal(p.id[:], c.MessageID) || p.sent.UnixMilli() != c.Sent ||
		p.to != c.To || !bytes.Equal(p.body, c.Body) {
		t.Fatalf("parsed %s %x %d %q %x, want %s %x %d %q %x", got, p.id, p.sent.UnixMilli(), p.to, p.body,
			c.Kind, c.MessageID, c.Sent, c.To, c.Body)
	}
	if b := p.marshal(); !bytes.Equal(b, c.Input) {
		t.Fatalf("re-encoded %x", b)
	}
	if err := checkPayload(p, c.Receiver, c.Sender); (err == nil) != c.Accepted {
		t.Fatalf("acceptance: %v, want accepted %v", err, c.Accepted)
	}
}

func kindName(k byte) string {
	switch k {
	case kindMessage:
		return "message"
	case kindSentCopy:
		return "sent-copy"
	}
	return ""
}

// TestConformance answers the questions of spec/conformance.md for
// client.json with this package's code.
func TestConformance(t *testing.T) {
	conformance.Test(t, conformance.ClientSuite(), conformanceAnswer)
}

func conformanceAnswer(req *conformance.Request) *conformance.Answer {
	typ, ok := conformance.CaseType(req.Case)
	if req.File != "client.json" || !ok {
		return conformance.Unsupported()
	}
	switch typ {
	case "payload":
		var q conformance.PayloadQuestion
		if err := json.Unmarshal(req.Case, &q); err != nil {
			return conformance.Error(conformance.BadRequest)
		}
		p, err := parsePayload(q.Input)
		if err != nil {
			return conformance.Error("malformed")
		}
		return conformance.Result(&conformance.PayloadResult{Kind: kindName(p.kind), MessageID: p.id[:], Sent: p.sent.UnixMilli(),
			To: p.to, Body: p.body, Accepted: checkPayload(p, q.Receiver, q.Sender) == nil})
	case "relay-send-id":
		var q conformance.RelaySendIDQuestion
		if err := json.Unmarshal(req.Case, &q); err != nil || len(q.MessageID) != len(MessageID{}) {
			return conformance.Error(conformance.BadRequest)
		}
		id := relaySendID(MessageID(q.MessageID), q.Handle, q.Device)
		return conformance.Result(&conformance.RelaySendIDResult{RelayID: id[:]})
	}
	return conformance.Unsupported()
}
