package gateway

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestTokenRoundTrip(t *testing.T) {
	for _, tok := range []Token{
		{PlatformAPNs, apnsDev, EnvProduction},
		{PlatformAPNs, apnsDev, EnvSandbox},
		{PlatformAPNs, "00", EnvProduction},
		{PlatformAPNs, strings.Repeat("ff", maxAPNsToken), EnvSandbox},
		{PlatformFCM, fcmDev, EnvProduction},
		{PlatformFCM, strings.Repeat("a", MaxTokenSize-3), EnvProduction},
	} {
		b, err := tok.Encode()
		if err != nil {
			t.Fatalf("%+v: %v", tok, err)
		}
		if len(b) > MaxTokenSize || b[0] != 1 || b[1] != byte(tok.Platform) || b[2] != byte(tok.Environment) {
			t.Errorf("%+v: encoding %x", tok, b[:3])
		}
		got, err := ParseToken(b)
		if err != nil || got != tok {
			t.Errorf("ParseToken(Encode(%+v)) = %+v, %v", tok, got, err)
		}
	}
	// spec/push.md §5.2 example.
	b, _ := Token{PlatformFCM, "abc", EnvProduction}.Encode()
	if !bytes.Equal(b, []byte{1, 2, 0, 'a', 'b', 'c'}) {
		t.Errorf("FCM abc encodes as %x", b)
	}
}

func TestTokenRefused(t *testing.T) {
	for _, tok := range []Token{
		{},
		{PlatformAPNs, "", EnvProduction},
		{PlatformAPNs, "ABCD", EnvProduction}, // upper-case hex
		{PlatformAPNs, "abc", EnvProduction},  // odd length
		{PlatformAPNs, apnsDev, 2},            // environment
		{PlatformAPNs, strings.Repeat("ff", 101), EnvSandbox}, // too long
		{PlatformFCM, fcmDev, EnvSandbox},
		{PlatformFCM, "", EnvProduction},
		{PlatformFCM, "a b", EnvProduction},
		{PlatformFCM, "a/b", EnvProduction},
		{PlatformFCM, strings.Repeat("a", MaxTokenSize-2), EnvProduction},
		{3, "ab", EnvProduction},
	} {
		if _, err := tok.Encode(); !errors.Is(err, ErrBadToken) {
			t.Errorf("Encode(%+v): %v, want ErrBadToken", tok, err)
		}
	}
	for _, b := range [][]byte{
		nil, {1}, {1, 1, 0}, {1, 2, 0},
		{0, 1, 0, 0xab}, {2, 1, 0, 0xab}, // version
		{1, 0, 0, 0xab}, {1, 3, 0, 0xab}, // platform
		{1, 1, 2, 0xab}, {1, 2, 1, 'a'}, // environment
		{1, 2, 0, 'a', ' '}, {1, 2, 0, 0xff},
		append([]byte{1, 1, 0}, make([]byte, maxAPNsToken+1)...),
		append([]byte{1, 2, 0}, bytes.Repeat([]byte{'a'}, MaxTokenSize-2)...),
	} {
		if tok, err := ParseToken(b); !errors.Is(err, ErrBadToken) {
			t.Errorf("ParseToken(%x) = %+v, %v; want ErrBadToken", b, tok, err)
		}
	}
}

func TestRelayKeys(t *testing.T) {
	key := strings.Repeat("k", MinRelayKeyLen)
	line, err := RelayKeyLine("relay.example-1", key)
	if err != nil {
		t.Fatal(err)
	}
	// SHA-256 of 32 'k's.
	if want := "relay.example-1 "; !strings.HasPrefix(line, want) || len(line) != len(want)+64 {
		t.Fatalf("line %q", line)
	}
	k, err := ParseRelayKeys(strings.NewReader("  # comment\n\n" + line + "\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if name, ok := k.lookup(key); !ok || name != "relay.example-1" {
		t.Errorf("lookup: %q %v", name, ok)
	}
	for _, wrong := range []string{"", key[:len(key)-1], key + "k", strings.Repeat("K", MinRelayKeyLen)} {
		if name, ok := k.lookup(wrong); ok {
			t.Errorf("lookup(%q) = %q", wrong, name)
		}
	}
	h := strings.Repeat("ab", 32)
	for _, c := range []struct{ name, file, want string }{
		{"empty", "# nothing\n", "no relay listed"},
		{"one field", "relay\n", "line 1"},
		{"three fields", "relay " + h + " x\n", "line 1"},
		{"bad name", "Relay " + h + "\n", "line 1: name"},
		{"short hash", "relay " + h[:62] + "\n", "line 1: want 64"},
		{"upper-case hash", "relay " + strings.ToUpper(h) + "\n", "line 1: want 64"},
		{"not hex", "relay " + strings.Repeat("zz", 32) + "\n", "not hex"},
		{"name twice", "a " + h + "\na " + strings.Repeat("cd", 32) + "\n", `line 2: name "a" given twice`},
		{"key twice", "a " + h + "\nb " + h + "\n", `line 2: the key of "a"`},
		{"every problem", "Relay " + h + "\nx\n", "line 2"},
	} {
		if _, err := ParseRelayKeys(strings.NewReader(c.file)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	for _, bad := range []string{"", strings.Repeat("k", 31), strings.Repeat("k", 257), strings.Repeat("k", 31) + " ", strings.Repeat("k", 31) + "é"} {
		if CheckRelayKey(bad) == nil {
			t.Errorf("CheckRelayKey(%q) accepted", bad)
		}
	}
}
