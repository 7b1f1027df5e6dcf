package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/client/content"
	"github.com/sealpost/sealpost/internal/conformance"
	"github.com/sealpost/sealpost/internal/vectors"
	"github.com/sealpost/sealpost/relay/wire"
	"google.golang.org/protobuf/proto"
)

// TestClientVectors walks spec/vectors/client.json: each payload is parsed
// (spec/client.md §2.1) and, when it parses, has the case's version (and,
// for version 2, the Content content.Parse gives, of the case's kind),
// re-encodes to the same bytes and is accepted or not as §2.2 says; each
// relay send id is §3.3's.
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
			if c.Payload != nil && c.Payload.Version == payloadVersion2 {
				seen["payload version 2"]++
			}
		})
	}
	if seen["payload"] == 0 || seen["payload version 2"] == 0 || seen["relay-send-id"] == 0 {
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
		if c.Accepted || c.Version != 0 || c.Kind != "" || c.To != "" || c.MessageID != nil || c.Body != nil || c.Sent != 0 || c.ContentKind != "" {
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
	if int(p.version) != c.Version {
		t.Fatalf("version %d, want %d", p.version, c.Version)
	}
	switch c.Version {
	case payloadVersion:
		if p.content != nil || c.ContentKind != "" {
			t.Fatalf("version 1 with content %v, case says %q", p.content, c.ContentKind)
		}
	case payloadVersion2:
		// The body is what content.Parse makes of it (spec/client.md
		// §2.1), of the case's kind.
		want, err := content.Parse(c.Body)
		if err != nil {
			t.Fatalf("content.Parse of the body: %v", err)
		}
		if p.content == nil || !proto.Equal(p.content.Content, want.Content) || !bytes.Equal(p.content.Unknown(), want.Unknown()) {
			t.Fatalf("content %v, content.Parse gives %v", p.content, want)
		}
		if k := p.content.Kind().String(); k != c.ContentKind {
			t.Fatalf("content kind %s, want %s", k, c.ContentKind)
		}
	default:
		t.Fatalf("version %d in an accepted case", c.Version)
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
		r := &conformance.PayloadResult{Version: int(p.version), Kind: kindName(p.kind), MessageID: p.id[:], Sent: p.sent.UnixMilli(),
			To: p.to, Body: p.body, Accepted: checkPayload(p, q.Receiver, q.Sender) == nil}
		if p.content != nil {
			r.ContentKind = p.content.Kind().String()
		}
		return conformance.Result(r)
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
