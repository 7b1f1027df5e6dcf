package vectors

// This file defines the cases of spec/vectors/kt.json
// (spec/transparency.md). The generator in spec/vectorgen writes them
// and keyserver/kt and the fuzz targets read them.

// KTCase is one case of kt.json. Type names the one pointer field that is
// set: "entry", "checkpoint", "inclusion" or "consistency". Error is "" when
// the receiver accepts the input, else "malformed", "bad_signature" or
// "security" (kt.ErrMalformed, kt.ErrBadSignature, kt.ErrSecurity).
type KTCase struct {
	ID          string             `json:"id"`
	Comment     string             `json:"comment"`
	Type        string             `json:"type"`
	Entry       *KTEntryCase       `json:"entry,omitempty"`
	Checkpoint  *KTCheckpointCase  `json:"checkpoint,omitempty"`
	Inclusion   *KTInclusionCase   `json:"inclusion,omitempty"`
	Consistency *KTConsistencyCase `json:"consistency,omitempty"`
	Error       string             `json:"error"`
}

// KTEntryDevice is one device of an entry: certificate and, if revoked,
// revocation encodings (spec/keys.md §6, §7).
type KTEntryDevice struct {
	Certificate Hex `json:"certificate"`
	Revocation  Hex `json:"revocation,omitempty"`
}

// KTEntryCase is a log leaf (spec/transparency.md §2). Handle, AccountSeed,
// Version and Devices are the key set the unmutated leaf encodes; Leaf is
// what the receiver parses (the encoding, or the encoding changed as
// Mutation says) and LeafHash its RFC 6962 leaf hash.
type KTEntryCase struct {
	Handle      string          `json:"handle"`
	AccountSeed Hex             `json:"account_seed"`
	AccountKey  Hex             `json:"account_key"`
	Version     uint64          `json:"version"`
	Devices     []KTEntryDevice `json:"devices"`
	Mutation    string          `json:"mutation"`
	Leaf        Hex             `json:"leaf"`
	LeafHash    Hex             `json:"leaf_hash"`
}

// KTCheckpointCase is a signed checkpoint (spec/transparency.md §4, §5).
// SignerSeed is the Ed25519 seed of the key that signed Signed; the
// receiver verifies with VerifierKey, built from LogSeed. Body is the note
// text that was signed. Origin, Size and Root are what an accepted
// checkpoint states.
type KTCheckpointCase struct {
	LogSeed     Hex    `json:"log_seed"`
	SignerSeed  Hex    `json:"signer_seed"`
	Origin      string `json:"origin"`
	VerifierKey string `json:"verifier_key"`
	KeyID       string `json:"key_id"`
	Body        string `json:"body"`
	Signed      string `json:"signed"`
	Size        int64  `json:"size"`
	Root        Hex    `json:"root"`
	// Time is the time (Unix seconds) of the log key's timestamped
	// signature in Signed (spec/transparency.md §5.3), 0 for none.
	Time int64 `json:"time,omitempty"`
}

// KTInclusionCase is an inclusion proof (spec/transparency.md §6.1): Proof
// shows Leaf at Index in the tree of the first Size leaves of Leaves, whose
// root is Root — or, for a refused case, fails to.
type KTInclusionCase struct {
	Leaves []Hex `json:"leaves"`
	Size   int64 `json:"size"`
	Root   Hex   `json:"root"`
	Index  int64 `json:"index"`
	Leaf   Hex   `json:"leaf"`
	Proof  []Hex `json:"proof"`
}

// KTConsistencyCase is a consistency proof (spec/transparency.md §6.2)
// between the tree of OldSize leaves with root OldRoot and the tree of
// NewSize leaves with root NewRoot. Leaves are the newer tree's leaves.
type KTConsistencyCase struct {
	Leaves  []Hex `json:"leaves"`
	OldSize int64 `json:"old_size"`
	OldRoot Hex   `json:"old_root"`
	NewSize int64 `json:"new_size"`
	NewRoot Hex   `json:"new_root"`
	Proof   []Hex `json:"proof"`
}
