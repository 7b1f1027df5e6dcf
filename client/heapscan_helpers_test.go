package client

import (
	"testing"

	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/crypto/keys"
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

// prekeySnapshot holds bytes 1-30 of a client's one-time X25519 prekeys,
// outside the heap, by id.
type prekeySnapshot struct {
	mem []byte
	ids []uint32
}

func snapshotOneTimePrekeys(t *testing.T, c *Client) *prekeySnapshot {
	t.Helper()
	var ps []localstore.Prekey
	err := c.store.View(ctxT(t), func(tx localstore.Tx) error {
		var err error
		ps, err = tx.Prekeys(uint8(keys.OneTimePrekey))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	mem, err := memscan.Alloc(30 * len(ps))
	if err != nil {
		t.Fatal(err)
	}
	s := &prekeySnapshot{mem: mem}
	for i, p := range ps {
		copy(mem[30*i:], p.Secret[1:31])
		clear(p.Secret)
		s.ids = append(s.ids, p.ID)
	}
	return s
}

// used returns the snapshot's prekeys c no longer stores (its responses
// used them).
func (s *prekeySnapshot) used(t *testing.T, c *Client) [][]byte {
	t.Helper()
	left := map[uint32]bool{}
	err := c.store.View(ctxT(t), func(tx localstore.Tx) error {
		ps, err := tx.PrekeyInfos(uint8(keys.OneTimePrekey))
		for _, p := range ps {
			left[p.ID] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for i, id := range s.ids {
		if !left[id] {
			out = append(out, s.mem[30*i:30*i+30])
		}
	}
	return out
}

func (s *prekeySnapshot) free() { memscan.Free(s.mem) }
