package main

import (
	"fmt"
	"testing"
)

func TestParseIPs(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      bool
	}{
		{in: "127.0.0.1", want: "[127.0.0.1]"},
		{in: "127.0.0.1,::1", want: "[127.0.0.1 ::1]"},
		{in: "127.0.0.254-127.0.1.1", want: "[127.0.0.254 127.0.0.255 127.0.1.0 127.0.1.1]"},
		{in: "127.0.0.3-127.0.0.3,10.0.0.1", want: "[127.0.0.3 10.0.0.1]"},
		{in: "127.0.0.5-127.0.0.1", err: true},
		{in: "127.0.0.1-::1", err: true},
		{in: "localhost", err: true},
		{in: "10.0.0.0-10.1.0.0", err: true}, // more than 65,536 addresses
	} {
		ips, err := parseIPs(tc.in)
		if tc.err {
			if err == nil {
				t.Errorf("%q: %v, want an error", tc.in, ips)
			}
			continue
		}
		if got := fmt.Sprint(ips); err != nil || got != tc.want {
			t.Errorf("%q: %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}
