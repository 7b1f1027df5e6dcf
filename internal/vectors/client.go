package vectors

// This file defines the cases of spec/vectors/client.json (spec/client.md
// §2 and §3.3). The generator in spec/vectorgen writes them and the
// client package reads them.

// ClientCase is one case of client.json. Type names the one pointer field
// that is set: "payload" or "relay-send-id".
type ClientCase struct {
	ID          string                 `json:"id"`
	Comment     string                 `json:"comment"`
	Type        string                 `json:"type"`
	Payload     *ClientPayloadCase     `json:"payload,omitempty"`
	RelaySendID *ClientRelaySendIDCase `json:"relay_send_id,omitempty"`
}

// ClientPayloadCase is a decrypted message payload (spec/client.md §2) as a
// receiving device sees it: the bytes, the account it belongs to and the
// account of the sealed sender certificate.
type ClientPayloadCase struct {
	// Input is the plaintext the ratchet decrypted.
	Input Hex `json:"input"`
	// Receiver is the handle of the receiving device's account; Sender the
	// handle in the sealed sender certificate (spec/client.md §2.2).
	Receiver string `json:"receiver"`
	Sender   string `json:"sender"`
	// Error is "" when the payload parses (§2.1), else "malformed".
	Error string `json:"error"`
	// The parsed fields, when Error is "": Version is 1 or 2; Kind is
	// "message" or "sent-copy", Sent is milliseconds since 1970, Body the
	// rest.
	Version   int    `json:"version,omitempty"`
	Kind      string `json:"kind,omitempty"`
	MessageID Hex    `json:"message_id,omitempty"`
	Sent      int64  `json:"sent,omitempty"`
	To        string `json:"to,omitempty"`
	Body      Hex    `json:"body,omitempty"`
	// ContentKind is the kind of a version 2 body, the Content's
	// (spec/content.md §1: "text", …, "app", or "unknown", §5); absent for
	// version 1.
	ContentKind string `json:"content_kind,omitempty"`
	// Accepted is whether the receiver accepts the parsed payload from
	// Sender (§2.2); false for a malformed one.
	Accepted bool `json:"accepted"`
}

// ClientRelaySendIDCase is the relay message id of one queued envelope
// (spec/client.md §3.3).
type ClientRelaySendIDCase struct {
	MessageID Hex    `json:"message_id"`
	Handle    string `json:"handle"`
	Device    uint32 `json:"device"`
	// Address is FormatAddress(Handle, Device) (spec/relay.md §4), where
	// the envelope is sent; Preimage the hashed bytes.
	Address  Hex `json:"address"`
	Preimage Hex `json:"preimage"`
	RelayID  Hex `json:"relay_id"`
}
