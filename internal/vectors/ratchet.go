package vectors

// This file defines the cases of spec/vectors/ratchet.json
// (spec/ratchet.md §10).

// RatchetCase is one session (spec/ratchet.md §5): the inputs of both
// sides, the randomness the initiator's constructor read, the states they
// start in, and a sequence of events applied in order.
type RatchetCase struct {
	ID      string `json:"id"`
	Comment string `json:"comment"`
	// SharedSecret, AD and Initial stand for the PQXDH outputs; the ratchet
	// treats AD and Initial as opaque bytes.
	SharedSecret Hex `json:"shared_secret"`
	AD           Hex `json:"ad"`
	Initial      Hex `json:"initial"`
	// ResponderRatchetPrivate is the responder's signed prekey private key,
	// ResponderRatchetPublic its public key: the initiator's first DHr.
	ResponderRatchetPrivate Hex `json:"responder_ratchet_private"`
	ResponderRatchetPublic  Hex `json:"responder_ratchet_public"`
	// InitiatorRandom is the 32 bytes NewInitiator read: its first ratchet
	// private key.
	InitiatorRandom Hex `json:"initiator_random"`
	// InitiatorState and ResponderState are the marshalled states right
	// after NewInitiator and NewResponder (spec/ratchet.md §8).
	InitiatorState Hex            `json:"initiator_state"`
	ResponderState Hex            `json:"responder_state"`
	Events         []RatchetEvent `json:"events"`
}

// RatchetEvent is one Encrypt or Decrypt by one party.
type RatchetEvent struct {
	// Party is "initiator" or "responder"; Op is "encrypt", "decrypt" or
	// "advance": Count encrypts of empty plaintexts on a continuing chain
	// (no randomness read), their messages discarded; every other field of
	// an advance event but State or StateSHA256 is empty.
	Party   string `json:"party"`
	Op      string `json:"op"`
	Comment string `json:"comment"`
	Count   uint32 `json:"count,omitempty"`
	// Random is what Encrypt read from its randomness source: the 32-byte
	// private key of a new ratchet key pair, or nothing. Empty on decrypt.
	Random Hex `json:"random"`
	// Plaintext is Encrypt's input, or what Decrypt returns (empty when it
	// refuses the message).
	Plaintext Hex `json:"plaintext"`
	// Message is what Encrypt returns, or what Decrypt is given.
	Message Hex `json:"message"`
	// Encrypt intermediates (spec/ratchet.md §3), empty on decrypt: DH is
	// the X25519 output of a new sending chain (empty when the chain
	// continues), ChainKey the chain key the message key came from,
	// MessageKey its KDF_CK output, AEADKey and AEADNonce its expansion.
	DH         Hex `json:"dh"`
	ChainKey   Hex `json:"chain_key"`
	MessageKey Hex `json:"message_key"`
	AEADKey    Hex `json:"aead_key"`
	AEADNonce  Hex `json:"aead_nonce"`
	// Error is empty when the operation succeeds, else the kind of refusal:
	// "malformed", "decrypt", "old_message" or "too_many_skipped".
	Error string `json:"error"`
	// State is the party's marshalled state after the event: unchanged
	// when Error is set. A state longer than 4096 bytes is given instead
	// as StateSHA256, its SHA-256, and State is empty.
	State       Hex `json:"state"`
	StateSHA256 Hex `json:"state_sha256,omitempty"`
}
