package link

import (
	"crypto/sha256"
	"fmt"
	"hash"
)

// SplitSnapshot cuts a snapshot into the SnapshotChunk records E sends
// after its Account record (spec/linking.md §8.2): chunks of MaxChunk
// bytes, the last one shorter; none for an empty snapshot. The chunks
// alias snapshot. It also returns the size and hash to put in Account.
func SplitSnapshot(snapshot []byte) (chunks []*SnapshotChunk, size uint64, sum [HashSize]byte, err error) {
	if len(snapshot) > MaxSnapshot {
		return nil, 0, sum, malformed("snapshot of %d bytes", len(snapshot))
	}
	for rest := snapshot; len(rest) > 0; {
		n := min(len(rest), MaxChunk)
		chunks = append(chunks, &SnapshotChunk{Data: rest[:n:n]})
		rest = rest[n:]
	}
	return chunks, uint64(len(snapshot)), sha256.Sum256(snapshot), nil
}

// SnapshotAssembler collects the chunks N receives and checks them against
// the Account record (spec/linking.md §8.2): the bytes must add up to
// exactly SnapshotSize and hash to SnapshotHash.
type SnapshotAssembler struct {
	size uint64
	sum  [HashSize]byte
	buf  []byte
	h    hash.Hash
}

// NewSnapshotAssembler starts collecting the snapshot a announces.
func NewSnapshotAssembler(a *Account) *SnapshotAssembler {
	return &SnapshotAssembler{size: a.SnapshotSize, sum: a.SnapshotHash, h: sha256.New(),
		buf: make([]byte, 0, min(a.SnapshotSize, MaxSnapshot))}
}

// Done reports whether every byte announced has arrived. An empty snapshot
// is done at once; Snapshot still checks its hash.
func (s *SnapshotAssembler) Done() bool { return uint64(len(s.buf)) == s.size }

// Add appends a chunk. It refuses (ErrMalformed) a chunk that would pass
// the announced size; nothing is added then.
func (s *SnapshotAssembler) Add(c *SnapshotChunk) error {
	if c == nil || len(c.Data) == 0 || len(c.Data) > MaxChunk {
		return malformed("snapshot chunk")
	}
	if uint64(len(c.Data)) > s.size-uint64(len(s.buf)) {
		return malformed("snapshot longer than the %d bytes announced", s.size)
	}
	s.buf = append(s.buf, c.Data...)
	s.h.Write(c.Data)
	return nil
}

// Snapshot returns the whole snapshot once Done, after checking its
// SHA-256 against the Account record's (ErrSnapshotMismatch).
func (s *SnapshotAssembler) Snapshot() ([]byte, error) {
	if !s.Done() {
		return nil, fmt.Errorf("%w: %d of %d bytes", ErrWrongState, len(s.buf), s.size)
	}
	var got [HashSize]byte
	s.h.Sum(got[:0])
	if got != s.sum {
		return nil, ErrSnapshotMismatch
	}
	return s.buf, nil
}
