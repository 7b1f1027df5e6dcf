package content

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/internal/conformance"
)

// TestConformance answers the questions of spec/conformance.md §3.5 for
// content.json with Parse and Marshal.
func TestConformance(t *testing.T) {
	conformance.Test(t, conformance.ContentSuite(), conformanceAnswer)
}

func conformanceAnswer(req *conformance.Request) *conformance.Answer {
	if req.File != "content.json" {
		return conformance.Unsupported()
	}
	var q conformance.ContentQuestion
	if err := json.Unmarshal(req.Case, &q); err != nil {
		return conformance.Error(conformance.BadRequest)
	}
	c, err := Parse(q.Encoding)
	if err != nil {
		return conformance.Error(errorName(err))
	}
	b, err := Marshal(c)
	if err != nil {
		// Not a name of spec/errors.md: fails the check, as it should.
		return conformance.Error("marshal: " + err.Error())
	}
	return conformance.Result(&conformance.ContentResult{Kind: c.Kind().String(), Canonical: b, Unknown: c.Unknown()})
}

// errorName is the spec/errors.md §3.17 name of a refusal.
func errorName(err error) string {
	for _, name := range []string{"malformed", "too_large", "invalid_utf8", "out_of_range"} {
		if errors.Is(err, errorNames[name]) {
			return name
		}
	}
	return "unknown: " + err.Error()
}
