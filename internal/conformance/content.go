package conformance

import "github.com/sealpost/sealpost/internal/vectors"

// Questions and results of content.json (spec/conformance.md §3.5).

// ContentQuestion asks to parse a Content encoding (spec/content.md §6)
// and, when it is accepted, marshal the parsed value (§3.1).
type ContentQuestion struct {
	Encoding vectors.Hex `json:"encoding"`
}

// ContentResult is an accepted Content: its kind (spec/content.md §1's
// names, or "unknown", §5), the encoding marshalling it writes (always
// given, also when it is the question's encoding), and its top-level
// unknown fields in the order received ("" when none).
type ContentResult struct {
	Kind      string      `json:"kind"`
	Canonical vectors.Hex `json:"canonical"`
	Unknown   vectors.Hex `json:"unknown"`
}

// ContentSuite checks content.json.
func ContentSuite() *Suite {
	return &Suite{File: "content.json", Checks: func() ([]Check, error) {
		f, err := vectors.Load[vectors.ContentCase]("content.json")
		if err != nil {
			return nil, err
		}
		var cs []Check
		for _, c := range f.Cases {
			ch := Check{ID: c.ID, Case: &ContentQuestion{Encoding: nonNil(c.Encoding)}, Error: c.Error}
			if c.Error == "" {
				canonical := c.Canonical
				if canonical == nil {
					canonical = c.Encoding // the file omits it when it is the encoding
				}
				ch.Want = &ContentResult{Kind: c.Kind, Canonical: nonNil(canonical), Unknown: nonNil(c.Unknown)}
			}
			cs = append(cs, ch)
		}
		return cs, nil
	}}
}
