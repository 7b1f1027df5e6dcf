package link

import (
	"crypto/rand"
	"testing"
)

// BenchmarkHandshake is one whole link handshake, both sides, with the
// system's randomness: N's keys and offer, E's checks and msg1, N's Accept,
// E's Finish.
func BenchmarkHandshake(b *testing.B) {
	dev, _ := newResponder(b, "bench")
	pub := dev.Public()
	for b.Loop() {
		r, err := NewResponder(rand.Reader, testRelay, testLinkID, pub, "Laptop", testExpires)
		if err != nil {
			b.Fatal(err)
		}
		i, _, msg1, err := Initiate(rand.Reader, r.URI(), r.Offer(), testReplyID, testNow)
		if err != nil {
			b.Fatal(err)
		}
		_, _, msg2, _, err := r.Accept(msg1)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := i.Finish(msg2); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshotChunk seals and opens one full 64 KiB chunk.
func BenchmarkSnapshotChunk(b *testing.B) {
	x := handshake(b, "bench chunk")
	chunk := &SnapshotChunk{Data: make([]byte, MaxChunk)}
	b.SetBytes(MaxChunk)
	for b.Loop() {
		sealed, err := x.ech.Seal(chunk)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := x.nch.Open(sealed); err != nil {
			b.Fatal(err)
		}
	}
}
