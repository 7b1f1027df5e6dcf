package vectors

// This file defines the cases of spec/vectors/directory.json
// (spec/transparency-v2.md §5, §6, §8, §9). The generator in spec/vectorgen
// writes them; keyserver/kt/directory and the fuzz targets read them.

// DirectoryCase is one case of directory.json. Type names the one pointer
// field that is set: "leaf", "commit", "lookup", "history", "audit" or
// "origin". Error is "" when accepted, else a name of spec/errors.md
// §3.16 (directory) or, for a checkpoint the log verifier refuses, §3.7
// (kt).
type DirectoryCase struct {
	ID      string               `json:"id"`
	Comment string               `json:"comment"`
	Type    string               `json:"type"`
	Leaf    *DirectoryLeafCase   `json:"leaf,omitempty"`
	Commit  *DirectoryCommitCase `json:"commit,omitempty"`
	Lookup  *DirectoryLookupCase `json:"lookup,omitempty"`
	History *DirectoryHistory    `json:"history,omitempty"`
	Audit   *DirectoryAuditCase  `json:"audit,omitempty"`
	Origin  *DirectoryOrigin     `json:"origin,omitempty"`
	Error   string               `json:"error"`
}

// DirectoryLeafCase is a log leaf's Encoding (§5.1) and, when it parses,
// its fields.
type DirectoryLeafCase struct {
	Encoding    Hex    `json:"encoding"`
	Epoch       uint64 `json:"epoch,omitempty"`
	Time        int64  `json:"time,omitempty"`
	VRFKey      Hex    `json:"vrf_key,omitempty"`
	MapRoot     Hex    `json:"map_root,omitempty"`
	Count       uint32 `json:"count,omitempty"`
	BatchDigest Hex    `json:"batch_digest,omitempty"`
}

// DirectoryCommitCase is a commitment (§6.1).
type DirectoryCommitCase struct {
	Opening    Hex `json:"opening"`
	Entry      Hex `json:"entry"`
	Commitment Hex `json:"commitment"`
}

// DirectoryLookupCase is a lookup answer (§6.2) with what the verifier is
// configured with: the log's VerifierKey (opened with the version 2
// verifier) and the pinned VRFKey. Checkpoint is the signed note. When
// accepted, Present says whether the answer proves an entry (Entry) or
// the handle's absence; Index is the handle's map index (§3.4).
type DirectoryLookupCase struct {
	VerifierKey string `json:"verifier_key"`
	VRFKey      Hex    `json:"vrf_key"`
	Checkpoint  string `json:"checkpoint"`
	Handle      string `json:"handle"`
	VRFProof    Hex    `json:"vrf_proof"`
	Epoch       uint64 `json:"epoch"`
	Leaf        Hex    `json:"leaf"`
	MapProof    Hex    `json:"map_proof"`
	Inclusion   []Hex  `json:"inclusion"`
	Entry       Hex    `json:"entry,omitempty"`
	Opening     Hex    `json:"opening,omitempty"`
	Index       Hex    `json:"index"`
	Present     bool   `json:"present"`
}

// DirectoryHistory is a history answer (§6.4); when accepted, Entries is
// the number of entries it proves.
type DirectoryHistory struct {
	VerifierKey string                `json:"verifier_key"`
	VRFKey      Hex                   `json:"vrf_key"`
	Checkpoint  string                `json:"checkpoint"`
	Handle      string                `json:"handle"`
	VRFProof    Hex                   `json:"vrf_proof"`
	Versions    []DirectoryVersion    `json:"versions"`
	Proofs      []DirectoryEpochProof `json:"proofs"`
	Entries     int                   `json:"entries"`
}

// DirectoryVersion is one version of a history.
type DirectoryVersion struct {
	Version uint64 `json:"version"`
	Epoch   uint64 `json:"epoch"`
	Entry   Hex    `json:"entry"`
	Opening Hex    `json:"opening"`
}

// DirectoryEpochProof is one epoch proof of a history.
type DirectoryEpochProof struct {
	Epoch     uint64 `json:"epoch"`
	Leaf      Hex    `json:"leaf"`
	Inclusion []Hex  `json:"inclusion"`
	MapProof  Hex    `json:"map_proof"`
}

// DirectoryAuditCase is one audit step (§8.2): from Old, the Epochs after
// it up to Checkpoint (opened with VerifierKey), with the consistency
// proof from Old's size; New is the state when accepted.
type DirectoryAuditCase struct {
	VerifierKey string                `json:"verifier_key"`
	Checkpoint  string                `json:"checkpoint"`
	Old         DirectoryAuditState   `json:"old"`
	Consistency []Hex                 `json:"consistency"`
	Epochs      []DirectoryAuditEpoch `json:"epochs"`
	New         *DirectoryAuditState  `json:"new,omitempty"`
}

// DirectoryAuditState is an auditor's state (§8.1).
type DirectoryAuditState struct {
	Size     uint64 `json:"size"`
	TreeRoot Hex    `json:"tree_root"`
	MapRoot  Hex    `json:"map_root"`
	Time     int64  `json:"time"`
	VRFKey   Hex    `json:"vrf_key"`
	Edge     []Hex  `json:"edge"`
	// Encoded is the state as AuditState.Marshal encodes it (§8.1).
	Encoded Hex `json:"encoded"`
}

// DirectoryAuditEpoch is the public data of one epoch.
type DirectoryAuditEpoch struct {
	Leaf       Hex `json:"leaf"`
	Batch      Hex `json:"batch"`
	BatchProof Hex `json:"batch_proof"`
}

// DirectoryOrigin is a domain-separation case (§9): a verifier key given
// to the version 2 verifier (Verifier "v2", directory.NewVerifier) or the
// version 1 one ("v1", kt.NewVerifier), and, when that accepts, a signed
// Checkpoint it must open or refuse.
type DirectoryOrigin struct {
	Verifier    string `json:"verifier"`
	VerifierKey string `json:"verifier_key"`
	Checkpoint  string `json:"checkpoint,omitempty"`
}
