package vectors

// This file defines the cases of spec/vectors/keys.json (spec/keys.md). The
// generator in spec/vectorgen writes them and crypto/keys reads them, so
// both use one definition and a field either side does not know fails.

// KeysCase is one case of keys.json. Type names the one pointer field that
// is set: "certificate", "revocation", "prekey", "bundle", "safety-number",
// "ed25519" or "x25519".
type KeysCase struct {
	ID           string                `json:"id"`
	Comment      string                `json:"comment"`
	Type         string                `json:"type"`
	Certificate  *KeysCertificateCase  `json:"certificate,omitempty"`
	Revocation   *KeysRevocationCase   `json:"revocation,omitempty"`
	Prekey       *KeysPrekeyCase       `json:"prekey,omitempty"`
	Bundle       *KeysBundleCase       `json:"bundle,omitempty"`
	SafetyNumber *KeysSafetyNumberCase `json:"safety_number,omitempty"`
	Ed25519      *KeysEd25519Case      `json:"ed25519,omitempty"`
	X25519       *KeysX25519Case       `json:"x25519,omitempty"`
}

// KeysEd25519Case is one Ed25519 verification (spec/keys.md §2.2): a public
// key, a message (the complete signed bytes, no label added) and a
// signature, with what Sealpost's verifier concludes and what a ZIP 215
// (cofactored, non-canonical encodings accepted) verifier would conclude.
// Cases where the two differ are the ones that pin the rule down.
type KeysEd25519Case struct {
	Public    Hex `json:"public"`
	Message   Hex `json:"message"`
	Signature Hex `json:"signature"`
	// Error is "" when the signature verifies, "non_canonical" or
	// "low_order" when the public key check refuses the key, else
	// "bad_signature".
	Error string `json:"error"`
	// ZIP215 is true when a ZIP 215 verifier accepts the signature.
	ZIP215 bool `json:"zip215"`
}

// KeysX25519Case is one agreement DH(private, public) (spec/keys.md §2.1):
// Output is the raw X25519 function value (all zeros for a small-order
// public key), Shared what DH returns (empty when it refuses), Error ""
// or "non_canonical" / "low_order" (the public key check refuses the key).
type KeysX25519Case struct {
	Private Hex    `json:"private"`
	Public  Hex    `json:"public"`
	Output  Hex    `json:"output"`
	Shared  Hex    `json:"shared"`
	Error   string `json:"error"`
}

// KeysAccount is an account identity key (spec/keys.md §4): the 32-byte
// Ed25519 seed read from the randomness source and the public key.
type KeysAccount struct {
	Seed   Hex `json:"seed"`
	Public Hex `json:"public"`
}

// KeysDevice is a device's identity keys (spec/keys.md §5): the Ed25519
// seed and the X25519 private key, in the order they are read from the
// randomness source, and the public keys they give.
type KeysDevice struct {
	SigningSeed   Hex `json:"signing_seed"`
	DHPrivate     Hex `json:"dh_private"`
	SigningPublic Hex `json:"signing_public"`
	DHPublic      Hex `json:"dh_public"`
}

// KeysReceive is what a receiver is given and must conclude.
type KeysReceive struct {
	// Input is the encoding the receiver parses. It equals the issued
	// encoding unless Mutation says how it was changed.
	Input    Hex    `json:"input"`
	Mutation string `json:"mutation"`
	// MutationSeed is the Ed25519 seed of a key the mutation introduced
	// (another account or another device), when there is one.
	MutationSeed Hex `json:"mutation_seed,omitempty"`
	// VerifyHandle and VerifyKey are what the receiver checks against: the
	// handle and account key for certificates, revocations and bundles, the
	// device signing key (and no handle) for prekeys.
	VerifyHandle string `json:"verify_handle,omitempty"`
	VerifyKey    Hex    `json:"verify_key"`
	// Stage is "" when the input is accepted, else "parse" or "verify":
	// where the receiver refuses it.
	Stage string `json:"stage"`
	// Part is the BundleError part of a refused bundle (spec/keys.md §9.2).
	Part string `json:"part,omitempty"`
	// Error is "" when accepted, else one of "malformed", "bad_signature",
	// "wrong_account", "wrong_kind".
	Error string `json:"error"`
}

// KeysCertificateCase is a device certificate (spec/keys.md §6).
type KeysCertificateCase struct {
	Account  KeysAccount `json:"account"`
	Handle   string      `json:"handle"`
	DeviceID uint32      `json:"device_id"`
	Device   KeysDevice  `json:"device"`
	Created  int64       `json:"created"`
	// SignedMessage is label || 0x00 || body, the bytes the signature covers.
	SignedMessage Hex         `json:"signed_message"`
	Certificate   Hex         `json:"certificate"`
	Receive       KeysReceive `json:"receive"`
}

// KeysRevocationCase is a device revocation (spec/keys.md §7).
type KeysRevocationCase struct {
	Account       KeysAccount `json:"account"`
	Handle        string      `json:"handle"`
	DeviceID      uint32      `json:"device_id"`
	Revoked       int64       `json:"revoked"`
	SignedMessage Hex         `json:"signed_message"`
	Revocation    Hex         `json:"revocation"`
	Receive       KeysReceive `json:"receive"`
}

// KeysPrekeyCase is one signed prekey (spec/keys.md §8).
type KeysPrekeyCase struct {
	Device   KeysDevice `json:"device"`
	Kind     uint8      `json:"kind"`
	KindName string     `json:"kind_name"`
	ID       uint32     `json:"id"`
	// Secret is the X25519 private key (32 bytes) or the ML-KEM-768
	// decapsulation key seed d || z (64 bytes) as read from the randomness
	// source; Public is the key it gives.
	Secret        Hex         `json:"secret"`
	Public        Hex         `json:"public"`
	SignedMessage Hex         `json:"signed_message"`
	Prekey        Hex         `json:"prekey"`
	Receive       KeysReceive `json:"receive"`
}

// KeysBundlePrekey is one prekey inside a bundle case.
type KeysBundlePrekey struct {
	Kind   uint8  `json:"kind"`
	ID     uint32 `json:"id"`
	Secret Hex    `json:"secret"`
	Prekey Hex    `json:"prekey"`
}

// KeysBundleCase is a prekey bundle (spec/keys.md §9).
type KeysBundleCase struct {
	Account       KeysAccount       `json:"account"`
	Handle        string            `json:"handle"`
	DeviceID      uint32            `json:"device_id"`
	Device        KeysDevice        `json:"device"`
	Created       int64             `json:"created"`
	Certificate   Hex               `json:"certificate"`
	SignedPrekey  KeysBundlePrekey  `json:"signed_prekey"`
	OneTimePrekey *KeysBundlePrekey `json:"one_time_prekey,omitempty"`
	KEMPrekey     KeysBundlePrekey  `json:"kem_prekey"`
	Bundle        Hex               `json:"bundle"`
	Exhausted     bool              `json:"exhausted"`
	Receive       KeysReceive       `json:"receive"`
}

// KeysSafetyNumberCase is the safety number of two accounts (spec/keys.md
// §10).
type KeysSafetyNumberCase struct {
	HandleA  string      `json:"handle_a"`
	AccountA KeysAccount `json:"account_a"`
	HandleB  string      `json:"handle_b"`
	AccountB KeysAccount `json:"account_b"`
	// FingerprintA and FingerprintB are the 30-byte fingerprints of §10.1.
	FingerprintA Hex              `json:"fingerprint_a"`
	FingerprintB Hex              `json:"fingerprint_b"`
	Digits       string           `json:"digits"`
	Compact      string           `json:"compact"`
	Scans        []KeysSafetyScan `json:"scans"`
}

// KeysSafetyScan is a scanned compact string and the result of comparing it
// with the case's safety number: "" for a match, "safety_number_mismatch"
// or "malformed".
type KeysSafetyScan struct {
	Scanned string `json:"scanned"`
	Error   string `json:"error"`
}
