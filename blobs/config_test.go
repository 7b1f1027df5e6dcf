package blobs

import (
	"testing"

	"github.com/sealpost/sealpost/crypto/stream"
)

// The default largest blob is the ciphertext of a 4 GiB file.
func TestDefaultMaxBlobSize(t *testing.T) {
	if got, want := int64(DefaultMaxBlobSize), stream.CiphertextSize(4<<30); got != want {
		t.Errorf("DefaultMaxBlobSize = %d, want size(C) of 4 GiB = %d", got, want)
	}
}
