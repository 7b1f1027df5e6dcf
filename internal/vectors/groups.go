package vectors

// This file defines the cases of spec/vectors/groups.json
// (spec/groups.md §9). The generator in spec/vectorgen writes them;
// client/group and the fuzz targets read them.

// GroupAccount is one account of the key directory a case uses: its handle
// and the Ed25519 seed of its account key.
type GroupAccount struct {
	Handle string `json:"handle"`
	Seed   Hex    `json:"seed"`
}

// GroupCase is one case. Type is "change" (apply Change to State, or for a
// Create to nothing), "state" (parse Encoding) or "concurrent" (two
// changes of State: Change and Other; Winner names the one that wins).
// Error is "" or a name of spec/errors.md §3.19.
type GroupCase struct {
	ID       string         `json:"id"`
	Comment  string         `json:"comment"`
	Type     string         `json:"type"`
	Accounts []GroupAccount `json:"accounts,omitempty"`
	// type "state"
	Encoding Hex `json:"encoding,omitempty"`
	// types "change" and "concurrent"
	State         Hex `json:"state,omitempty"`
	StateHash     Hex `json:"state_hash,omitempty"`
	Change        Hex `json:"change,omitempty"`
	SignedMessage Hex `json:"signed_message,omitempty"`
	ChangeID      Hex `json:"change_id,omitempty"`
	// type "concurrent"
	Other   Hex    `json:"other,omitempty"`
	OtherID Hex    `json:"other_id,omitempty"`
	Winner  string `json:"winner,omitempty"`

	Error string `json:"error"`
	// When Error is "": the state the change (or the winner) makes, and its
	// hash; for type "state", NewStateHash is the hash of Encoding.
	NewState     Hex `json:"new_state,omitempty"`
	NewStateHash Hex `json:"new_state_hash,omitempty"`
}
