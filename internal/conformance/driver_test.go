package conformance

import (
	"encoding/json"
	"testing"
)

// TestJudge pins how answers are compared (spec/conformance.md §2.2).
func TestJudge(t *testing.T) {
	want := &Check{ID: "x", Want: map[string]any{"a": 1, "b": "00ff", "c": []int{2}}}
	refused := &Check{ID: "y", Error: "malformed"}
	for _, tc := range []struct {
		name   string
		c      *Check
		answer string
		status string
	}{
		{"same", want, `{"id":"x","result":{"a":1,"b":"00ff","c":[2]}}`, "pass"},
		{"order and spelling", want, `{"id":"x","result":{"c":[2.0],"b":"00ff","a":1e0}}`, "pass"},
		{"extra member", want, `{"id":"x","result":{"a":1,"b":"00ff","c":[2],"d":null}}`, "fail"},
		{"missing member", want, `{"id":"x","result":{"a":1,"b":"00ff"}}`, "fail"},
		{"upper-case hex", want, `{"id":"x","result":{"a":1,"b":"00FF","c":[2]}}`, "fail"},
		{"number as string", want, `{"id":"x","result":{"a":"1","b":"00ff","c":[2]}}`, "fail"},
		{"error for result", want, `{"id":"x","error":"malformed"}`, "fail"},
		{"both", want, `{"id":"x","result":{"a":1,"b":"00ff","c":[2]},"error":"malformed"}`, "fail"},
		{"neither", want, `{"id":"x"}`, "fail"},
		{"unsupported", want, `{"id":"x","unsupported":true}`, "skip"},
		{"error", refused, `{"id":"y","error":"malformed"}`, "pass"},
		{"other error", refused, `{"id":"y","error":"bad_signature"}`, "fail"},
		{"result for error", refused, `{"id":"y","result":{}}`, "fail"},
	} {
		var a Answer
		if err := json.Unmarshal([]byte(tc.answer), &a); err != nil {
			t.Fatal(err)
		}
		if o := judge("f.json", tc.c, &a); o.Status != tc.status {
			t.Errorf("%s: %s (%s), want %s", tc.name, o.Status, o.Detail, tc.status)
		}
	}
}

// TestLargeIntegers checks that 64-bit values are compared exactly.
func TestLargeIntegers(t *testing.T) {
	if jsonEqual([]byte(`9223372036854775807`), []byte(`9223372036854775806`)) {
		t.Fatal("2^63-1 equals 2^63-2")
	}
	if !jsonEqual([]byte(`18446744073709551615`), []byte(`18446744073709551615`)) {
		t.Fatal("2^64-1 differs from itself")
	}
}
