package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/sealpost/sealpost/crypto/keys"
)

func TestAddressRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		handle string
		device uint32
		want   []byte
	}{
		{"bob", 1, []byte{3, 'b', 'o', 'b', 0, 0, 0, 1}},
		{"a.b_c-9", 0x01020304, []byte{7, 'a', '.', 'b', '_', 'c', '-', '9', 1, 2, 3, 4}},
		{strings.Repeat("z", 32), 0xffffffff, append(append([]byte{32}, strings.Repeat("z", 32)...), 0xff, 0xff, 0xff, 0xff)},
	} {
		got := FormatAddress(tc.handle, tc.device)
		if !bytes.Equal(got, tc.want) {
			t.Fatalf("FormatAddress(%q, %d) = %x, want %x", tc.handle, tc.device, got, tc.want)
		}
		if CheckAddress(got) != nil {
			t.Fatalf("CheckAddress refuses %x", got)
		}
		h, d, err := ParseAddress(got)
		if err != nil || h != tc.handle || d != tc.device {
			t.Fatalf("ParseAddress(%x) = %q, %d, %v", got, h, d, err)
		}
	}
}

func TestFormatAddressRefuses(t *testing.T) {
	for _, tc := range []struct {
		handle string
		device uint32
	}{
		{"bob", 0},
		{"bo", 1},
		{"Bob", 1},
		{strings.Repeat("a", 33), 1},
		{strings.Repeat("a", 300), 1},
		{"bob\x00", 1},
	} {
		if got := FormatAddress(tc.handle, tc.device); got != nil {
			t.Errorf("FormatAddress(%q, %d) = %x, want nil", tc.handle, tc.device, got)
		}
	}
}

func TestParseAddressRefuses(t *testing.T) {
	good := FormatAddress("alice", 7)
	for name, b := range map[string][]byte{
		"empty":            nil,
		"length only":      {5},
		"short":            good[:len(good)-1],
		"long":             append(bytes.Clone(good), 0),
		"length too big":   append([]byte{6}, good[1:]...),
		"length too small": append([]byte{4}, good[1:]...),
		"handle too short": {2, 'a', 'b', 0, 0, 0, 1, 0},
		"upper case":       {3, 'B', 'o', 'b', 0, 0, 0, 1},
		"space":            {3, 'b', ' ', 'b', 0, 0, 0, 1},
		"device zero":      {3, 'b', 'o', 'b', 0, 0, 0, 0},
		"too long":         append(append([]byte{33}, strings.Repeat("a", 33)...), 0, 0, 0, 1),
	} {
		in := bytes.Clone(b)
		h, d, err := ParseAddress(b)
		if !errors.Is(err, ErrInvalidAddress) || h != "" || d != 0 {
			t.Errorf("%s: ParseAddress(%x) = %q, %d, %v; want ErrInvalidAddress", name, b, h, d, err)
		}
		if !errors.Is(CheckAddress(b), ErrInvalidAddress) {
			t.Errorf("%s: CheckAddress accepts %x", name, b)
		}
		if !bytes.Equal(in, b) {
			t.Errorf("%s: input modified", name)
		}
	}
}

// TestAddressHandleBytes checks every byte value in every handle position
// against keys.CheckHandle, the rule spec/relay.md §4 refers to.
func TestAddressHandleBytes(t *testing.T) {
	for pos := 0; pos < 3; pos++ {
		for c := 0; c < 256; c++ {
			h := []byte("abc")
			h[pos] = byte(c)
			addr := AppendAddress(nil, string(h), 9)
			want := keys.CheckHandle(string(h)) == nil
			if got := CheckAddress(addr) == nil; got != want {
				t.Fatalf("byte %#x at %d: CheckAddress ok=%v, CheckHandle ok=%v", c, pos, got, want)
			}
		}
	}
}

func TestCheckAddressDoesNotAllocate(t *testing.T) {
	addr := FormatAddress(strings.Repeat("q", 32), 42)
	if n := testing.AllocsPerRun(100, func() {
		if CheckAddress(addr) != nil {
			t.Fatal("refused")
		}
	}); n != 0 {
		t.Fatalf("CheckAddress allocates %v times per call", n)
	}
}
