package vectors

// This file defines the cases of spec/vectors/senderkey.json
// (spec/senderkey.md §9).

// SenderKeyCase is one sending chain and the receivers made from its
// distributions, with events applied in order.
type SenderKeyCase struct {
	ID      string `json:"id"`
	Comment string `json:"comment"`
	// GroupID and Random are NewSendingChain's inputs: Random is the 80
	// bytes it reads (chain id, chain key, signing seed).
	GroupID       Hex `json:"group_id"`
	Random        Hex `json:"random"`
	SigningPublic Hex `json:"signing_public"`
	// SendingState is the sending chain right after NewSendingChain
	// (spec/senderkey.md §7.1).
	SendingState Hex              `json:"sending_state"`
	Events       []SenderKeyEvent `json:"events"`
}

// SenderKeyEvent is one operation: "encrypt", "advance", "distribute",
// "decrypt" or "parse_distribution" (spec/senderkey.md §9).
type SenderKeyEvent struct {
	Op      string `json:"op"`
	Comment string `json:"comment"`
	// Count is the number of empty messages an advance encrypts and
	// discards.
	Count uint32 `json:"count,omitempty"`
	// Receiver names the receiving chain a distribute makes or a decrypt
	// uses.
	Receiver string `json:"receiver,omitempty"`
	// Plaintext is Encrypt's input or Decrypt's output (empty when
	// refused); Message Encrypt's output or Decrypt's input.
	Plaintext Hex `json:"plaintext,omitempty"`
	Message   Hex `json:"message,omitempty"`
	// Encrypt intermediates (spec/senderkey.md §3): the chain key before
	// the step, the message key and its expansion.
	ChainKey   Hex `json:"chain_key,omitempty"`
	MessageKey Hex `json:"message_key,omitempty"`
	AEADKey    Hex `json:"aead_key,omitempty"`
	AEADNonce  Hex `json:"aead_nonce,omitempty"`
	// Distribution is what a distribute writes or a parse_distribution
	// reads (spec/senderkey.md §5.1).
	Distribution Hex `json:"distribution,omitempty"`
	// Error is "" on success, else a name of spec/errors.md §3.19.
	Error string `json:"error"`
	// State is the acting chain's state after the event: the sending chain
	// after encrypt and advance, the receiving chain after distribute and
	// decrypt (unchanged when refused); empty for parse_distribution. A
	// state longer than 4096 bytes is given as StateSHA256 instead.
	State       Hex `json:"state,omitempty"`
	StateSHA256 Hex `json:"state_sha256,omitempty"`
}
