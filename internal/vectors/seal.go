package vectors

// SealCase is one case of spec/vectors/seal.json (spec/seal.md §8). The
// generator in spec/vectorgen writes them and crypto/seal reads them.
//
// Every case records every secret: the sender's account and device keys,
// the recipient's device keys, the ephemeral key Seal read from its random
// source, the two plaintext blocks, each intermediate value, the sealed
// envelope, and the envelope given to Open with the result Open must return.
type SealCase struct {
	ID      string `json:"id"`
	Comment string `json:"comment"`

	// The sender certificate (spec/keys.md §6): the account key seed whose
	// public key the certificate names, the seed of the key that signed it
	// (the same, except in a case whose signature does not verify), the
	// certified fields and device keys, and the certificate's encoding.
	SenderAccountSeed Hex    `json:"sender_account_seed"`
	CertSignerSeed    Hex    `json:"cert_signer_seed"`
	SenderHandle      string `json:"sender_handle"`
	SenderDevice      uint32 `json:"sender_device"`
	SenderCreated     int64  `json:"sender_created"`
	SenderSigningSeed Hex    `json:"sender_signing_seed"`
	SenderDHPrivate   Hex    `json:"sender_dh_private"`
	SenderCertificate Hex    `json:"sender_certificate"`
	// StaticDHPrivate is the X25519 private key S the envelope's static
	// agreement used: SenderDHPrivate, except when the sender lies.
	StaticDHPrivate Hex `json:"static_dh_private"`

	// RecipientSigningSeed and RecipientDHPrivate are the device that calls
	// Open. SealedTo is the X25519 identity key R the envelope was sealed
	// to: the recipient's, except in a wrong-recipient case.
	RecipientSigningSeed Hex `json:"recipient_signing_seed"`
	RecipientDHPrivate   Hex `json:"recipient_dh_private"`
	SealedTo             Hex `json:"sealed_to"`

	// EphemeralPrivate is the 32 bytes Seal read from its random source.
	EphemeralPrivate Hex `json:"ephemeral_private"`
	EphemeralPublic  Hex `json:"ephemeral_public"`
	Message          Hex `json:"message"`

	// The plaintexts of c1 and c2 (spec/seal.md §3.1, §3.2).
	CertBlock    Hex `json:"cert_block"`
	MessageBlock Hex `json:"message_block"`

	// Intermediate values (spec/seal.md §4.1, §4.2).
	EphemeralDH Hex `json:"e_dh"`
	OKM1        Hex `json:"okm1"`
	StaticDH    Hex `json:"s_dh"`
	OKM2        Hex `json:"okm2"`

	// Sealed is the envelope sealed from the blocks above. SealedBy is
	// "seal" when Seal, given the sender keys (StaticDHPrivate), the
	// certificate, SealedTo, the message and EphemeralPrivate as its
	// randomness, returns exactly Sealed; it is "blocks" when Sealed was
	// built from blocks Seal would never lay out, or keys Seal refuses.
	Sealed   Hex    `json:"sealed"`
	SealedBy string `json:"sealed_by"`

	// Envelope is what Open is given: Sealed, unless Mutation says how it
	// was changed ("" when it was not).
	Envelope Hex    `json:"envelope"`
	Mutation string `json:"mutation"`

	// Error is what Open returns: "" when it accepts the envelope, else
	// "malformed" or "decrypt".
	Error string `json:"error"`
}

// SealHybridCase is one case of spec/vectors/seal-v2.json (spec/seal.md
// §10.8): a version 2 (hybrid post-quantum) envelope. It records what a
// SealCase does, plus the recipient's last-resort ML-KEM-768 prekeys, the
// 32 bytes of ML-KEM encapsulation randomness and every KEM value.
type SealHybridCase struct {
	ID      string `json:"id"`
	Comment string `json:"comment"`

	// The sender certificate, as in SealCase (always signed by the
	// account key it names).
	SenderAccountSeed Hex    `json:"sender_account_seed"`
	SenderHandle      string `json:"sender_handle"`
	SenderDevice      uint32 `json:"sender_device"`
	SenderCreated     int64  `json:"sender_created"`
	SenderSigningSeed Hex    `json:"sender_signing_seed"`
	SenderDHPrivate   Hex    `json:"sender_dh_private"`
	SenderCertificate Hex    `json:"sender_certificate"`
	StaticDHPrivate   Hex    `json:"static_dh_private"`

	// The device that opens: its identity keys, and the last-resort KEM
	// prekeys it holds (current first, then replaced ones it keeps).
	// KEMLookup is false when Open is given no KEM key lookup.
	RecipientSigningSeed Hex             `json:"recipient_signing_seed"`
	RecipientDHPrivate   Hex             `json:"recipient_dh_private"`
	RecipientKEMPrekeys  []SealKEMPrekey `json:"recipient_kem_prekeys"`
	KEMLookup            bool            `json:"kem_lookup"`

	// SealedTo is R; SealedToKEM the encoding of the prekey (kind 3,
	// signed by the recipient device) the envelope was sealed to, KEMKeyHash
	// K = SHA-256 of its encapsulation key and KeyID K[0:8].
	SealedTo    Hex `json:"sealed_to"`
	SealedToKEM Hex `json:"sealed_to_kem"`
	KEMKeyHash  Hex `json:"kem_key_hash"`
	KeyID       Hex `json:"key_id"`

	// The 64 bytes SealHybrid read: EphemeralPrivate, then KEMRandomness
	// (m). KEMCiphertext and KEMSharedSecret are ML-KEM.Encaps_internal's.
	EphemeralPrivate Hex `json:"ephemeral_private"`
	EphemeralPublic  Hex `json:"ephemeral_public"`
	KEMRandomness    Hex `json:"kem_randomness"`
	KEMCiphertext    Hex `json:"kem_ciphertext"`
	KEMSharedSecret  Hex `json:"kem_shared_secret"`
	Message          Hex `json:"message"`

	CertBlock    Hex `json:"cert_block"`
	MessageBlock Hex `json:"message_block"`

	// Intermediate values (spec/seal.md §10.4).
	EphemeralDH Hex `json:"e_dh"`
	Salt        Hex `json:"salt"`
	OKM1        Hex `json:"okm1"`
	StaticDH    Hex `json:"s_dh"`
	OKM2        Hex `json:"okm2"`

	Sealed   Hex    `json:"sealed"`
	SealedBy string `json:"sealed_by"`
	Envelope Hex    `json:"envelope"`
	Mutation string `json:"mutation"`

	// Error is what Open returns: "", "malformed", "no_kem_keys",
	// "unknown_kem_key" or "decrypt".
	Error string `json:"error"`
}

// SealKEMPrekey is a last-resort ML-KEM-768 prekey the recipient holds:
// its id, the 64-byte seed d || z, its encoding (spec/keys.md §8, signed
// by the recipient device) and its key id (spec/seal.md §10.1).
type SealKEMPrekey struct {
	ID     uint32 `json:"id"`
	Seed   Hex    `json:"seed"`
	Prekey Hex    `json:"prekey"`
	KeyID  Hex    `json:"key_id"`
}
