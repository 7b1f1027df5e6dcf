package vectors

// VRFCase is one case of spec/vectors/vrf.json (spec/transparency-v2.md
// §3.6). The generator in spec/vectorgen writes them and crypto/vrf reads
// them.
//
// Each case records the key that made a proof, the input it was made for,
// the proof and output Prove returns, and then what a verifier is given
// (a public key, an input, a proof: the prover's, unless Mutation says how
// they were changed) and what it must answer.
type VRFCase struct {
	ID      string `json:"id"`
	Comment string `json:"comment"`

	// Seed is the 32-byte VRF private key (SK); ProverPublicKey its public
	// key. ProvedHandle is the handle the proof was made for and
	// ProvedAlpha its VRF input (§3.3); Proof and ProvedBeta are what Prove
	// returns for them.
	Seed            Hex    `json:"seed"`
	ProverPublicKey Hex    `json:"prover_public_key"`
	ProvedHandle    string `json:"proved_handle"`
	ProvedAlpha     Hex    `json:"proved_alpha"`
	Proof           Hex    `json:"proof"`
	ProvedBeta      Hex    `json:"proved_beta"`

	// What the verifier is given: PublicKey, the VRF input Alpha of Handle,
	// and Pi. Mutation is "" when all three are the prover's.
	PublicKey Hex    `json:"public_key"`
	Handle    string `json:"handle"`
	Alpha     Hex    `json:"alpha"`
	Pi        Hex    `json:"pi"`
	Mutation  string `json:"mutation"`

	// Result is ok, invalid_key (ParsePublicKey refuses PublicKey),
	// malformed_proof or invalid_proof. Beta and Index (§3.4) are the
	// verified output and map index when Result is ok, else empty.
	Result string `json:"result"`
	Beta   Hex    `json:"beta"`
	Index  Hex    `json:"index"`
}
