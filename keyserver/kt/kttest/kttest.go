// Package kttest is an in-memory transparency log for tests: it appends
// leaves, computes roots and proofs with golang.org/x/mod/sumdb/tlog, and
// signs checkpoints with keyserver/kt. It is not safe for concurrent use.
package kttest

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/sealpost/sealpost/keyserver/kt"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Log is an in-memory log of leaves and their stored hashes.
type Log struct {
	Origin string
	// Time, if not zero, is the time of the log key's timestamped
	// signature Checkpoint adds (spec/transparency.md §5.3).
	Time   time.Time
	key    ed25519.PrivateKey
	signer note.Signer
	leaves [][]byte
	hashes []tlog.Hash
}

// New returns an empty log named origin whose checkpoints priv signs.
func New(origin string, priv ed25519.PrivateKey) (*Log, error) {
	s, err := kt.NewSigner(origin, priv)
	if err != nil {
		return nil, err
	}
	return &Log{Origin: origin, key: priv, signer: s}, nil
}

// ReadHashes implements tlog.HashReader.
func (l *Log) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(l.hashes)) {
			return nil, fmt.Errorf("kttest: hash index %d of %d", x, len(l.hashes))
		}
		out[i] = l.hashes[x]
	}
	return out, nil
}

// Append adds leaf and returns its index.
func (l *Log) Append(leaf []byte) (int64, error) {
	n := int64(len(l.leaves))
	hs, err := tlog.StoredHashes(n, leaf, l)
	if err != nil {
		return 0, err
	}
	l.leaves = append(l.leaves, append([]byte(nil), leaf...))
	l.hashes = append(l.hashes, hs...)
	return n, nil
}

// Size returns the number of leaves.
func (l *Log) Size() int64 { return int64(len(l.leaves)) }

// Leaf returns leaf i.
func (l *Log) Leaf(i int64) []byte { return l.leaves[i] }

// Root returns the root hash of the tree of the first size leaves.
func (l *Log) Root(size int64) (tlog.Hash, error) { return tlog.TreeHash(size, l) }

// Checkpoint signs the checkpoint of the first size leaves.
func (l *Log) Checkpoint(size int64) ([]byte, error) {
	root, err := l.Root(size)
	if err != nil {
		return nil, err
	}
	if l.Time.IsZero() {
		return kt.SignCheckpoint(l.signer, l.Origin, size, root)
	}
	ts, err := kt.NewTimestampSigner(l.Origin, l.key, l.Time)
	if err != nil {
		return nil, err
	}
	return kt.SignCheckpoint(l.signer, l.Origin, size, root, ts)
}

// ProveInclusion proves leaf index in the tree of the first size leaves.
func (l *Log) ProveInclusion(index, size int64) (tlog.RecordProof, error) {
	return tlog.ProveRecord(size, index, l)
}

// ProveConsistency proves that the tree of size newer extends the tree of
// size older. Like the key server, it answers an empty proof when older is
// 0 or equals newer.
func (l *Log) ProveConsistency(older, newer int64) (tlog.TreeProof, error) {
	if older == 0 || older == newer {
		return tlog.TreeProof{}, nil
	}
	return tlog.ProveTree(newer, older, l)
}

// WitnessKey returns the cosignature verifier key of a witness named name
// with public key pub, or, for a nil pub, of a fresh random one.
func WitnessKey(t testing.TB, name string, pub ed25519.PublicKey) string {
	t.Helper()
	if pub == nil {
		var err error
		if pub, _, err = ed25519.GenerateKey(rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	vkey, err := kt.Witness{Name: name, Key: pub}.VerifierKey()
	if err != nil {
		t.Fatal(err)
	}
	return vkey
}
