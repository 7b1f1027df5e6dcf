package client

import (
	"testing"

	"github.com/sealpost/sealpost/internal/memscan"
)

// copyDHKeyMiddle copies bytes 1 to 30 of c's X25519 identity key from its
// guarded buffer into dst (memory from memscan.Alloc), without a copy on
// the heap.
func copyDHKeyMiddle(t *testing.T, c *Client, dst []byte) {
	t.Helper()
	id, err := c.registered()
	if err != nil {
		t.Fatal(err)
	}
	copy(dst, id.secrets.Bytes()[offDH+1:guardedSize-1])
}

// guardedRange is the memory of c's guarded key buffer.
func guardedRange(t *testing.T, c *Client) memscan.Range {
	t.Helper()
	id, err := c.registered()
	if err != nil {
		t.Fatal(err)
	}
	return memscan.RangeOf(id.secrets.Bytes())
}

// copySigningSeed copies c's Ed25519 device signing seed from its guarded
// buffer into dst (memory from memscan.Alloc).
func copySigningSeed(t *testing.T, c *Client, dst []byte) {
	t.Helper()
	id, err := c.registered()
	if err != nil {
		t.Fatal(err)
	}
	copy(dst, id.secrets.Bytes()[offSigning:offSigning+seedSize])
}
