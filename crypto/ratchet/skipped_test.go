package ratchet

import (
	"fmt"
	"testing"
)

func TestOutOfOrderWithinBound(t *testing.T) {
	p := newPair(t, "out of order")
	var ms [][]byte
	for i := range MaxSkipPerChain + 1 {
		ms = append(ms, p.send(t, p.a, fmt.Sprint(i)))
	}
	// The last one skips exactly MaxSkipPerChain keys.
	recv(t, p.b, ms[MaxSkipPerChain], fmt.Sprint(MaxSkipPerChain))
	if len(p.b.skipped) != MaxSkipPerChain {
		t.Fatalf("%d skipped keys stored, want %d", len(p.b.skipped), MaxSkipPerChain)
	}
	for _, i := range []int{3, 0, 999, 500, 1, 2} {
		recv(t, p.b, ms[i], fmt.Sprint(i))
	}
	if len(p.b.skipped) != MaxSkipPerChain-6 {
		t.Fatalf("%d skipped keys left, want %d", len(p.b.skipped), MaxSkipPerChain-6)
	}

	// Across a DH ratchet step: messages of the old chain that arrive after
	// the first message of the new one are found through PN.
	q := newPair(t, "out of order across steps")
	a0 := q.send(t, q.a, "a0")
	a1 := q.send(t, q.a, "a1")
	a2 := q.send(t, q.a, "a2")
	recv(t, q.b, a0, "a0")
	recv(t, q.a, q.send(t, q.b, "b0"), "b0")
	c0 := q.send(t, q.a, "c0")
	recv(t, q.b, c0, "c0")
	recv(t, q.b, a2, "a2")
	recv(t, q.b, a1, "a1")
	if len(q.b.skipped) != 0 {
		t.Fatalf("%d skipped keys left", len(q.b.skipped))
	}
}

func TestSkipBeyondBoundRefused(t *testing.T) {
	p := newPair(t, "beyond bound")
	var last []byte
	for i := range MaxSkipPerChain + 2 {
		last = p.send(t, p.a, fmt.Sprint(i))
	}
	// Message MaxSkipPerChain+1 would skip MaxSkipPerChain+1 keys, on a
	// new chain (the responder's first message) ...
	refused(t, p.b, last, ErrTooManySkipped)

	// ... and on the current chain.
	q := newPair(t, "beyond bound current")
	recv(t, q.b, q.send(t, q.a, "first"), "first") // Nr = 1
	for i := range MaxSkipPerChain + 2 {
		last = q.send(t, q.a, fmt.Sprint(i))
	}
	refused(t, q.b, last, ErrTooManySkipped)

	// ... and through PN, for the rest of the previous chain.
	r := newPair(t, "beyond bound pn")
	recv(t, r.b, r.send(t, r.a, "first"), "first")
	recv(t, r.a, r.send(t, r.b, "reply"), "reply")
	for range MaxSkipPerChain + 1 {
		r.send(t, r.b, "lost")
	}
	recv(t, r.b, r.send(t, r.a, "second"), "second")
	refused(t, r.a, r.send(t, r.b, "new chain"), ErrTooManySkipped)
}

func TestSkippedKeysEvictOldestFirst(t *testing.T) {
	p := newPair(t, "eviction")
	// Three chains from the initiator, each with gaps, filling the store
	// past MaxSkippedKeys.
	type held struct {
		m  []byte
		pt string
	}
	var chains [][]held
	for c := range 3 {
		var ms []held
		for i := range 900 {
			pt := fmt.Sprintf("chain %d message %d", c, i)
			ms = append(ms, held{p.send(t, p.a, pt), pt})
		}
		// Deliver only the last of the chain: 899 keys skipped.
		recv(t, p.b, ms[899].m, ms[899].pt)
		chains = append(chains, ms)
		// A reply and its answer start the next chain.
		recv(t, p.a, p.send(t, p.b, "ack"), "ack")
	}
	// 3×899 = 2697 skipped, so the oldest 697 (chain 0, messages 0..696)
	// are gone.
	if len(p.b.skipped) != MaxSkippedKeys {
		t.Fatalf("%d skipped keys, want %d", len(p.b.skipped), MaxSkippedKeys)
	}
	refused(t, p.b, chains[0][0].m, ErrDecrypt)
	refused(t, p.b, chains[0][696].m, ErrDecrypt)
	recv(t, p.b, chains[0][697].m, chains[0][697].pt)
	recv(t, p.b, chains[2][0].m, chains[2][0].pt)
	recv(t, p.b, chains[1][0].m, chains[1][0].pt)
	// Entries stay in insertion order.
	for i := 1; i < len(p.b.skipped); i++ {
		x, y := p.b.skipped[i-1], p.b.skipped[i]
		if x.dh == y.dh && x.n >= y.n {
			t.Fatal("skipped keys out of insertion order")
		}
	}
}

func TestReplayRefused(t *testing.T) {
	p := newPair(t, "replay")
	m0 := p.send(t, p.a, "m0")
	m1 := p.send(t, p.a, "m1")
	m2 := p.send(t, p.a, "m2")
	recv(t, p.b, m0, "m0")
	recv(t, p.b, m2, "m2")
	refused(t, p.b, m0, ErrOldMessage) // current chain, before Nr
	refused(t, p.b, m2, ErrOldMessage)
	recv(t, p.b, m1, "m1") // from the skipped store
	refused(t, p.b, m1, ErrOldMessage)

	// A replay of an old chain's message after a DH step: the chain is no
	// longer known, so it cannot authenticate.
	recv(t, p.a, p.send(t, p.b, "reply"), "reply")
	recv(t, p.b, p.send(t, p.a, "again"), "again")
	refused(t, p.b, m0, ErrDecrypt)
}
