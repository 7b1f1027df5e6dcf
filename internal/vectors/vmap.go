package vectors

// This file defines the cases of spec/vectors/vmap.json
// (spec/transparency-v2.md §4). The generator in spec/vectorgen writes them
// and keyserver/kt/vmap and the fuzz targets read them.

// VMapCase is one case of vmap.json. Type names the one pointer field that
// is set: "lookup" or "batch". Error is "" when the verifier accepts, else
// "malformed", "proof_invalid", "version" or "duplicate"
// (vmap.ErrMalformed, vmap.ErrProofInvalid, vmap.ErrVersion,
// vmap.ErrDuplicate).
type VMapCase struct {
	ID      string          `json:"id"`
	Comment string          `json:"comment"`
	Type    string          `json:"type"`
	Lookup  *VMapLookupCase `json:"lookup,omitempty"`
	Batch   *VMapBatchCase  `json:"batch,omitempty"`
	Error   string          `json:"error"`
}

// VMapLeaf is one leaf of a map: index, version, commitment.
type VMapLeaf struct {
	Index      Hex    `json:"index"`
	Version    uint64 `json:"version"`
	Commitment Hex    `json:"commitment"`
}

// VMapLookupCase is a lookup proof (spec/transparency-v2.md §4.4): Proof
// for Index under Root, the root of the map holding Leaves. An accepted
// proof yields Present and, if present, Version and Commitment.
type VMapLookupCase struct {
	Leaves     []VMapLeaf `json:"leaves"`
	Root       Hex        `json:"root"`
	Index      Hex        `json:"index"`
	Proof      Hex        `json:"proof"`
	Present    bool       `json:"present"`
	Version    uint64     `json:"version,omitempty"`
	Commitment Hex        `json:"commitment,omitempty"`
}

// VMapBatchCase is a batch audit (spec/transparency-v2.md §4.6): Batch
// (its public encoding, with digest BatchDigest when it parses) applied to
// the map of OldLeaves (root OldRoot) gives NewRoot, as Proof shows — or,
// for a refused case, does not.
type VMapBatchCase struct {
	OldLeaves   []VMapLeaf `json:"old_leaves"`
	OldRoot     Hex        `json:"old_root"`
	NewRoot     Hex        `json:"new_root"`
	Batch       Hex        `json:"batch"`
	BatchDigest Hex        `json:"batch_digest,omitempty"`
	Proof       Hex        `json:"proof"`
}
