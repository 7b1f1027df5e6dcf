package vectors

// This file defines the cases of spec/vectors/content.json
// (spec/content.md §7). The generator in spec/vectorgen writes them;
// client/content and the fuzz targets read them.

// ContentCase is one encoded Content. Error is "" when it parses, else a
// name of spec/errors.md §3.17.
type ContentCase struct {
	ID       string `json:"id"`
	Comment  string `json:"comment"`
	Encoding Hex    `json:"encoding"`
	Error    string `json:"error"`
	// When Error is "": Kind is the parsed kind ("text", …, "app", or
	// "unknown"); Canonical what marshalling the parsed value writes,
	// absent when that is Encoding; Unknown the top-level unknown fields
	// in the order received.
	Kind      string `json:"kind,omitempty"`
	Canonical Hex    `json:"canonical,omitempty"`
	Unknown   Hex    `json:"unknown,omitempty"`
}
