package wire

import (
	"encoding/hex"
	"testing"
)

// TestAccessVerifierExample checks the example of spec/relay.md §15.8.
func TestAccessVerifierExample(t *testing.T) {
	var k [AccessKeySize]byte
	for i := range k {
		k[i] = byte(i)
	}
	v := AccessVerifier(&k)
	const want = "6bcf517a255665a32b485337b07ed623148991214d1908826b00e618fa567928"
	if got := hex.EncodeToString(v[:]); got != want {
		t.Fatalf("AccessVerifier(00..1f) = %s, want %s (spec/relay.md §15.8)", got, want)
	}
}
