package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/sealpost/sealpost/relay/store"
)

// spentKey is a spent send token's key in the relay's shape (spec/relay.md
// §15.4): 0x00 || u64 epoch || 32-byte nonce, 41 bytes, never an address.
func spentKey(epoch byte, nonce byte) []byte {
	k := make([]byte, 9, 41)
	k[8] = epoch
	return append(k, bytes.Repeat([]byte{nonce}, 32)...)
}

// testSpentTokens: the spent set of anonymous sends is the dedup records
// keyed by a spent key with the all-zero message id (spec/relay.md §15.4):
// a key is accepted once (a second send under it, whatever its items, gets
// the first answer and stores nothing), other keys are independent, and
// the record lives until its DedupUntil (the end of the token's epoch
// window) and is swept then.
func testSpentTokens(t *testing.T, f *fixture) {
	f.open(bob)
	spend := func(key []byte, env string, until time.Time) store.Send {
		s := f.newSend(key, store.Item{Recipient: bob, Envelope: envelope(env, 10)})
		s.MessageID = [store.MessageIDSize]byte{}
		s.DedupUntil = until
		return s
	}
	until := f.now.Add(48 * time.Hour)
	a := spend(spentKey(1, 0xaa), "a", until)
	f.send(a, false, store.Stored)
	before := f.snap(bob)
	again := spend(spentKey(1, 0xaa), "other", until)
	again.Items = append(again.Items, again.Items[0])
	f.send(again, true, store.Stored)
	f.unchanged("send under a spent key", before)

	// Another nonce, or the same nonce in another epoch: other tokens.
	f.send(spend(spentKey(1, 0xab), "b", until), false, store.Stored)
	f.send(spend(spentKey(2, 0xaa), "c", until), false, store.Stored)
	f.wantStats(bob, 3, 30)

	// Swept with its window: the key is forgotten.
	_, err := f.q.Sweep(f.ctx, until)
	must(t, "Sweep", err)
	late := spend(spentKey(1, 0xaa), "d", until.Add(48*time.Hour))
	late.Now = until
	late.Expiry = until.Add(time.Hour)
	f.send(late, false, store.Stored)
}
