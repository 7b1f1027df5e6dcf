package vectors

// This file defines the cases of spec/vectors/linking.json
// (spec/linking.md §11). The generator in spec/vectorgen writes them and
// crypto/link reads them.

// LinkingCase is one case; Type names the one pointer field that is set:
// "uri", "name", "offer", "record", "exchange" or "mitm".
type LinkingCase struct {
	ID       string               `json:"id"`
	Comment  string               `json:"comment"`
	Type     string               `json:"type"`
	URI      *LinkingURICase      `json:"uri,omitempty"`
	Name     *LinkingNameCase     `json:"name,omitempty"`
	Offer    *LinkingOfferCase    `json:"offer,omitempty"`
	Record   *LinkingRecordCase   `json:"record,omitempty"`
	Exchange *LinkingExchangeCase `json:"exchange,omitempty"`
	MITM     *LinkingMITMCase     `json:"mitm,omitempty"`
}

// LinkingURICase is a URI string (spec/linking.md §2) and what ParseURI
// makes of it: Error "" and the fields, or a name ("malformed_uri",
// "unsupported_version").
type LinkingURICase struct {
	Input     string `json:"input"`
	Error     string `json:"error"`
	Relay     string `json:"relay,omitempty"`
	LinkID    Hex    `json:"link_id,omitempty"`
	OfferHash Hex    `json:"offer_hash,omitempty"`
	Expires   int64  `json:"expires,omitempty"`
}

// LinkingNameCase is a device name's bytes (spec/linking.md §3.3) and
// whether CheckName accepts it: Error "" or "invalid_name".
type LinkingNameCase struct {
	Input Hex    `json:"input"`
	Error string `json:"error"`
}

// LinkingOfferCase is an offer's bytes (spec/linking.md §3) and what
// ParseOffer makes of them: Error "" and the fields, or a name
// ("malformed", "unsupported_version").
type LinkingOfferCase struct {
	Input         Hex    `json:"input"`
	Error         string `json:"error"`
	Expires       int64  `json:"expires,omitempty"`
	Relay         string `json:"relay,omitempty"`
	LinkID        Hex    `json:"link_id,omitempty"`
	DeviceSigning Hex    `json:"device_signing,omitempty"`
	DeviceDH      Hex    `json:"device_dh,omitempty"`
	DH            Hex    `json:"dh,omitempty"`
	KEM           Hex    `json:"kem,omitempty"`
	Commit        Hex    `json:"commit,omitempty"`
}

// LinkingRecord is a record's fields (spec/linking.md §8): Type is
// "account", "snapshot_chunk", "linked" or "abort" and only its fields
// are set.
type LinkingRecord struct {
	Type         string `json:"type"`
	Certificate  Hex    `json:"certificate,omitempty"`
	AccountSeed  Hex    `json:"account_seed,omitempty"`
	SnapshotSize uint64 `json:"snapshot_size,omitempty"`
	SnapshotHash Hex    `json:"snapshot_hash,omitempty"`
	Data         Hex    `json:"data,omitempty"`
	Device       uint32 `json:"device,omitempty"`
	Reason       uint8  `json:"reason,omitempty"`
	Text         string `json:"text,omitempty"`
}

// LinkingRecordCase is a record plaintext, type || body, and what
// ParseRecord makes of it: Error "" and the record, or "malformed".
type LinkingRecordCase struct {
	Input  Hex            `json:"input"`
	Error  string         `json:"error"`
	Record *LinkingRecord `json:"record,omitempty"`
}

// LinkingExchangeCase is one complete handshake and channel
// (spec/linking.md §4–§7) with every input, the randomness each side read,
// every intermediate value and the refusals derived from it.
type LinkingExchangeCase struct {
	// N's inputs: its device public keys, mailbox, name (not in the
	// offer: msg2 carries it, sealed), expiry, and the 128 bytes
	// NewResponder read: x_N's private key, the ML-KEM-768 seed d || z,
	// r_N.
	DeviceSigning       Hex    `json:"device_signing"`
	DeviceDH            Hex    `json:"device_dh"`
	Relay               string `json:"relay"`
	LinkID              Hex    `json:"link_id"`
	Name                string `json:"name"`
	Expires             int64  `json:"expires"`
	ResponderRandomness Hex    `json:"responder_randomness"`
	// What N makes: the offer, its hash and the URI.
	Offer     Hex    `json:"offer"`
	OfferHash Hex    `json:"offer_hash"`
	URI       string `json:"uri"`
	// E's inputs: its clock, its reply link id, and the 64 bytes Initiate
	// read: x_E's private key and the ML-KEM encapsulation randomness m.
	Now                 int64 `json:"now"`
	ReplyID             Hex   `json:"reply_id"`
	InitiatorRandomness Hex   `json:"initiator_randomness"`
	// The handshake: msg1, the intermediates of §5, msg2 (its plaintext
	// is r_N || name_len || name || zeros to 64 name bytes), the code
	// (§6).
	Msg1          Hex    `json:"msg1"`
	InitiatorDH   Hex    `json:"initiator_dh"`
	KEMCiphertext Hex    `json:"kem_ciphertext"`
	SharedDH      Hex    `json:"shared_dh"`
	SharedKEM     Hex    `json:"shared_kem"`
	Transcript    Hex    `json:"transcript"`
	PRK           Hex    `json:"prk"`
	KeyE2N        Hex    `json:"key_e2n"`
	KeyN2E        Hex    `json:"key_n2e"`
	KeySAS        Hex    `json:"key_sas"`
	Msg2          Hex    `json:"msg2"`
	CodeMAC       Hex    `json:"code_mac"`
	Code          string `json:"code"`
	// Records in the order sealed, each direction numbered from 1.
	Records  []LinkingSealed  `json:"records,omitempty"`
	Refusals []LinkingRefusal `json:"refusals,omitempty"`
}

// LinkingSealed is one record of the channel: Direction "e2n" or "n2e",
// its sequence number, plaintext (type || body) and sealed bytes.
type LinkingSealed struct {
	Direction string        `json:"direction"`
	Seq       uint64        `json:"seq"`
	Record    LinkingRecord `json:"record"`
	Plaintext Hex           `json:"plaintext"`
	Sealed    Hex           `json:"sealed"`
}

// LinkingRefusal is an input derived from the exchange that a side must
// refuse (spec/linking.md §11). Stage says which:
//
//	initiate  Initiate(ParseURI(URI), Offer, the exchange's ReplyID, Now)
//	          with the exchange's InitiatorRandomness; Error
//	accept    Accept(Msg) by the exchange's Responder, fresh; Error
//	finish    Finish(Msg) by the exchange's Initiator after Initiate; Error
//	open_n    N's channel after the handshake opens Opens in order
//	open_e    E's channel likewise
//
// Every refusal leaves the side unchanged.
type LinkingRefusal struct {
	Comment string        `json:"comment"`
	Stage   string        `json:"stage"`
	URI     string        `json:"uri,omitempty"`
	Offer   Hex           `json:"offer,omitempty"`
	Now     int64         `json:"now,omitempty"`
	Msg     Hex           `json:"msg,omitempty"`
	Opens   []LinkingOpen `json:"opens,omitempty"`
	Error   string        `json:"error,omitempty"`
}

// LinkingOpen is one input of an open stage and its outcome: Error ""
// (opened) or a name ("decrypt", "duplicate", "gap", "malformed",
// "wrong_direction").
type LinkingOpen struct {
	Sealed Hex    `json:"sealed"`
	Error  string `json:"error"`
}

// LinkingMITMCase is a man in the middle who swapped the URI E scanned for
// its own: two honest exchanges, E with M (M's offer under M's URI) and M
// with N (N's real URI). The codes E and N show differ (spec/linking.md
// §6.2).
type LinkingMITMCase struct {
	EWithM LinkingExchangeCase `json:"e_with_m"`
	MWithN LinkingExchangeCase `json:"m_with_n"`
}
