package s3

import "testing"

func TestParseContentRange(t *testing.T) {
	for _, tc := range []struct {
		in                 string
		first, last, total int64
		ok                 bool
	}{
		{"bytes 0-99/100", 0, 99, 100, true},
		{"bytes 50-50/51", 50, 50, 51, true},
		{"bytes 0-99/99", 0, 0, 0, false},
		{"bytes 10-9/100", 0, 0, 0, false},
		{"bytes -1-9/100", 0, 0, 0, false},
		{"bytes */100", 0, 0, 0, false},
		{"bytes 0-9/*", 0, 0, 0, false},
		{"items 0-9/100", 0, 0, 0, false},
		{"", 0, 0, 0, false},
		{"bytes 0-99999999999999999999/100", 0, 0, 0, false},
	} {
		f, l, tot, ok := parseContentRange(tc.in)
		if f != tc.first || l != tc.last || tot != tc.total || ok != tc.ok {
			t.Errorf("parseContentRange(%q) = %d, %d, %d, %v", tc.in, f, l, tot, ok)
		}
	}
}
