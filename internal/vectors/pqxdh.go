package vectors

// This file defines the cases of spec/vectors/pqxdh.json (spec/pqxdh.md).

// PQXDHDevice is one party's account and device, with the secrets it was
// built from (spec/keys.md §4–§6).
type PQXDHDevice struct {
	Handle            string `json:"handle"`
	DeviceID          uint32 `json:"device_id"`
	Created           int64  `json:"created"`
	AccountSeed       Hex    `json:"account_seed"`
	DeviceSigningSeed Hex    `json:"device_signing_seed"`
	DeviceDHPrivate   Hex    `json:"device_dh_private"`
	Certificate       Hex    `json:"certificate"`
}

// PQXDHPrekey is one of the responder's prekeys: kind, id, private secret
// (32-byte X25519 key or 64-byte ML-KEM seed) and the signed encoding.
type PQXDHPrekey struct {
	Kind    uint8  `json:"kind"`
	ID      uint32 `json:"id"`
	Secret  Hex    `json:"secret"`
	Encoded Hex    `json:"encoded"`
}

// PQXDHCase is one complete agreement (spec/pqxdh.md §3): the inputs of both
// sides, the randomness the initiator consumed, every intermediate value and
// the results.
type PQXDHCase struct {
	ID        string       `json:"id"`
	Comment   string       `json:"comment"`
	Initiator PQXDHDevice  `json:"initiator"`
	Responder PQXDHDevice  `json:"responder"`
	Signed    PQXDHPrekey  `json:"signed_prekey"`
	OneTime   *PQXDHPrekey `json:"one_time_prekey"` // null when the bundle has none
	KEM       PQXDHPrekey  `json:"kem_prekey"`
	Bundle    Hex          `json:"bundle"`
	// EphemeralPrivate and KEMRandomness are the 32 + 32 bytes the
	// initiator read from its randomness source, in that order.
	EphemeralPrivate Hex `json:"ephemeral_private"`
	KEMRandomness    Hex `json:"kem_randomness"`
	// DH1..DH4 (DH4 empty without a one-time prekey), the ML-KEM shared
	// secret, the transcript salt, SK and AD (spec/pqxdh.md §5, §6).
	DH1             Hex `json:"dh1"`
	DH2             Hex `json:"dh2"`
	DH3             Hex `json:"dh3"`
	DH4             Hex `json:"dh4"`
	KEMSharedSecret Hex `json:"kem_shared_secret"`
	InitialMessage  Hex `json:"initial_message"`
	Salt            Hex `json:"salt"`
	AD              Hex `json:"ad"`
	SharedSecret    Hex `json:"shared_secret"`
	// Refusals are initial messages derived from InitialMessage that the
	// responder must refuse, given this case's certificates and prekeys.
	Refusals []PQXDHRefusal `json:"refusals,omitempty"`
}

// PQXDHRefusal is one initial message the responder refuses (spec/pqxdh.md
// §4, §3.2): Stage is "parse" (ParseInitialMessage) or "respond" (Respond
// with the case's responder keys, the initiator's certificate and the
// case's private prekeys); Error is "malformed", "identity_mismatch" or
// "prekey_mismatch".
type PQXDHRefusal struct {
	Comment        string `json:"comment"`
	InitialMessage Hex    `json:"initial_message"`
	Stage          string `json:"stage"`
	Error          string `json:"error"`
}
