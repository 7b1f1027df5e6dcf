package wire

import (
	"testing"
	"time"
)

func TestHints(t *testing.T) {
	for _, c := range []struct {
		in string
		d  time.Duration
		ok bool
	}{
		{"1", time.Millisecond, true},
		{"2500", 2500 * time.Millisecond, true},
		{"600000", MaxHint, true},
		{"9999999999", MaxHint, true},
		{"", 0, false},
		{"0", 0, false},
		{"05", 0, false},
		{"-5", 0, false},
		{"+5", 0, false},
		{"1.5", 0, false},
		{" 5", 0, false},
		{"12345678901", 0, false},
	} {
		if d, ok := ParseHint(c.in); d != c.d || ok != c.ok {
			t.Errorf("ParseHint(%q) = %v, %v; want %v, %v", c.in, d, ok, c.d, c.ok)
		}
	}
	for _, d := range []time.Duration{0, time.Microsecond, 1500 * time.Microsecond, 7 * time.Second, time.Hour} {
		got, ok := ParseHint(FormatHint(d))
		want := min(max(d.Truncate(time.Millisecond), time.Millisecond), MaxHint)
		if !ok || got != want {
			t.Errorf("ParseHint(FormatHint(%v)) = %v, %v; want %v", d, got, ok, want)
		}
	}
}
