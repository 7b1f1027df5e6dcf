package prim

import (
	"crypto/hmac"
	"crypto/sha256"
	"testing"
)

// TestHMACMatchesStdlib checks HMAC against crypto/hmac on both sides of its fast path's
// limits: every key length up to 80 bytes and message lengths around 128.
func TestHMACMatchesStdlib(t *testing.T) {
	buf := make([]byte, 300)
	for i := range buf {
		buf[i] = byte(i*7 + 3)
	}
	for kl := 0; kl <= 80; kl++ {
		for _, ml := range []int{0, 1, 2, 31, 32, 55, 56, 63, 64, 65, 119, 120, 127, 128, 129, 200, 300} {
			key, msg := buf[:kl], buf[300-ml:]
			m := hmac.New(sha256.New, key)
			m.Write(msg)
			want := m.Sum(nil)
			if got := HMAC(key, msg); !hmac.Equal(got[:], want) {
				t.Fatalf("HMAC with %d-byte key, %d-byte message differs from crypto/hmac", kl, ml)
			}
		}
	}
}
