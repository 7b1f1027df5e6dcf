package keys_test

import (
	"strings"
	"testing"

	"github.com/sealpost/sealpost/crypto/keys"
)

func TestCheckHandle(t *testing.T) {
	valid := []string{
		"abc", "alice", "a.b", "a_b", "a-b", "0123456789", "...", "---", "___",
		"a1.b2_c3-d4", strings.Repeat("z", keys.MaxHandleLen), "abcdefghijklmnopqrstuvwxyz",
	}
	for _, h := range valid {
		if err := keys.CheckHandle(h); err != nil {
			t.Errorf("CheckHandle(%q) = %v, want nil", h, err)
		}
	}
	invalid := []string{
		"", "a", "ab", strings.Repeat("z", keys.MaxHandleLen+1), strings.Repeat("z", 255),
		"Alice", "aliCe", "al ice", " alice", "alice ", "al@ce", "al/ce", "al+ce", "al\x00ce",
		"alice\n", "al\u00e9ce", "\u0430lice", // é, Cyrillic а
		"al\xffce", "a\tb", "a:b", "a,b", "a~b",
	}
	for _, h := range invalid {
		wantErr(t, keys.CheckHandle(h), keys.ErrInvalidHandle)
	}
}

// TestCheckHandleEveryByte checks the allowed set byte by byte.
func TestCheckHandleEveryByte(t *testing.T) {
	for c := range 256 {
		h := "ab" + string([]byte{byte(c)})
		allowed := 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
		if err := keys.CheckHandle(h); (err == nil) != allowed {
			t.Errorf("byte %#02x: CheckHandle = %v, allowed %v", c, err, allowed)
		}
	}
}

func TestHandleLengthBounds(t *testing.T) {
	for n := range 40 {
		err := keys.CheckHandle(strings.Repeat("a", n))
		if ok := n >= keys.MinHandleLen && n <= keys.MaxHandleLen; (err == nil) != ok {
			t.Errorf("length %d: %v", n, err)
		}
	}
}
