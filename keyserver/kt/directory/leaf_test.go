package directory_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/directory"
	"github.com/sealpost/sealpost/keyserver/kt/vmap"
)

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }

func TestLeafRoundTrip(t *testing.T) {
	l := directory.Leaf{Epoch: 7, Time: 1767225600, Count: vmap.MaxBatch}
	for i := range 32 {
		l.VRFKey[i], l.MapRoot[i], l.BatchDigest[i] = byte(i), byte(i+32), byte(i+64)
	}
	b := l.Marshal()
	if len(b) != directory.LeafSize || b[0] != directory.LeafVersion {
		t.Fatalf("leaf of %d bytes starting %x", len(b), b[0])
	}
	if binary.BigEndian.Uint64(b[1:]) != 7 || binary.BigEndian.Uint64(b[9:]) != 1767225600 ||
		!bytes.Equal(b[17:49], l.VRFKey[:]) || !bytes.Equal(b[49:81], l.MapRoot[:]) ||
		binary.BigEndian.Uint32(b[81:]) != vmap.MaxBatch || !bytes.Equal(b[85:], l.BatchDigest[:]) {
		t.Fatalf("layout differs from spec/transparency-v2.md §5.1: %x", b)
	}
	p, err := directory.ParseLeaf(b)
	if err != nil {
		t.Fatal(err)
	}
	if *p != l || !bytes.Equal(p.Marshal(), b) {
		t.Fatal("round trip differs")
	}
}

func TestParseLeafRefusals(t *testing.T) {
	good := (&directory.Leaf{Epoch: 1, Time: 5}).Marshal()
	set := func(off int, v uint64, n int) []byte {
		b := bytes.Clone(good)
		switch n {
		case 8:
			binary.BigEndian.PutUint64(b[off:], v)
		case 4:
			binary.BigEndian.PutUint32(b[off:], uint32(v))
		case 1:
			b[off] = byte(v)
		}
		return b
	}
	for name, b := range map[string][]byte{
		"empty":         nil,
		"short":         good[:directory.LeafSize-1],
		"long":          append(bytes.Clone(good), 0),
		"version-1":     set(0, 1, 1),
		"version-3":     set(0, 3, 1),
		"epoch-0":       set(1, 0, 8),
		"time-negative": set(9, 1<<63, 8),
		"count-too-big": set(81, vmap.MaxBatch+1, 4),
		"a-v1-entry":    (&kt.Entry{Handle: "alice", Version: 1}).Marshal(),
	} {
		t.Run(name, func(t *testing.T) {
			before := bytes.Clone(b)
			_, err := directory.ParseLeaf(b)
			if !errors.Is(err, directory.ErrMalformed) {
				t.Fatalf("error %v; want ErrMalformed", err)
			}
			unchanged(t, before, b)
		})
	}
}
