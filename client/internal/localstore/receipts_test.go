//go:build !js

package localstore

import (
	"fmt"
	"testing"
	"time"
)

// The queue of receipts to send (spec/client-store.md §4.19,
// spec/client.md §12.2): a batch is the receipts of one peer and type,
// those of the oldest queued receipt first, up to the limit, oldest first;
// a repeat is queued once; sent ones leave with DeleteReceipts.
func TestReceiptBatches(t *testing.T) {
	s, _ := create(t, pass("p"))
	id := func(peer string, i int) []byte { return fmt.Appendf(nil, "%s-%04d", peer, i) }
	update(t, s, func(tx Tx) error {
		for i := range 300 {
			if err := tx.QueueReceipt("bob", ReceiptRead, id("bob", i), t0.Add(time.Duration(i)*time.Millisecond)); err != nil {
				return err
			}
		}
		// A repeat (later) changes nothing; carol's come after bob's first.
		if err := tx.QueueReceipt("bob", ReceiptRead, id("bob", 0), t0.Add(time.Hour)); err != nil {
			return err
		}
		for i := range 2 {
			if err := tx.QueueReceipt("carol", ReceiptDelivered, id("carol", i), t0.Add(time.Second)); err != nil {
				return err
			}
		}
		return tx.QueueReceipt("bob", ReceiptDelivered, id("bob", 0), t0.Add(2*time.Second))
	})
	want := []struct {
		peer     string
		typ      int
		from, to int
	}{{"bob", ReceiptRead, 0, 256}, {"bob", ReceiptRead, 256, 300}, {"carol", ReceiptDelivered, 0, 2}, {"bob", ReceiptDelivered, 0, 1}}
	for _, w := range want {
		update(t, s, func(tx Tx) error {
			p, err := tx.PendingReceiptBatch(256)
			if err != nil {
				return err
			}
			if p == nil || p.Peer != w.peer || p.Type != w.typ || len(p.IDs) != w.to-w.from {
				t.Fatalf("batch %+v: want %s, type %d, %d ids", p, w.peer, w.typ, w.to-w.from)
			}
			for i, got := range p.IDs {
				if string(got) != string(id(w.peer, w.from+i)) {
					t.Fatalf("%s batch id %d: %q, want %q", w.peer, i, got, id(w.peer, w.from+i))
				}
			}
			return tx.DeleteReceipts(p.Peer, p.Type, p.IDs)
		})
	}
	view(t, s, func(tx Tx) error {
		if p, err := tx.PendingReceiptBatch(256); p != nil || err != nil {
			t.Errorf("after every batch: %+v, %v", p, err)
		}
		return nil
	})
}

// Receipts queued at the same time: the batch is that of the first in
// (peer, type, id) order, its ids in id order; a limit of 0 gives a batch
// without ids, one below 0 every id.
func TestReceiptBatchTies(t *testing.T) {
	s, _ := create(t, pass("p"))
	update(t, s, func(tx Tx) error {
		for _, r := range []struct {
			peer string
			typ  int
			id   string
		}{{"carol", ReceiptRead, "c1"}, {"bob", ReceiptRead, "b2"}, {"bob", ReceiptDelivered, "b3"}, {"bob", ReceiptRead, "b1"}} {
			if err := tx.QueueReceipt(r.peer, r.typ, []byte(r.id), t0); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx Tx) error {
		p, err := tx.PendingReceiptBatch(0)
		if err != nil || p == nil || p.Peer != "bob" || p.Type != ReceiptDelivered || p.IDs != nil {
			t.Errorf("PendingReceiptBatch(0) = %+v, %v", p, err)
		}
		p, err = tx.PendingReceiptBatch(-1)
		if err != nil || p == nil || p.Peer != "bob" || p.Type != ReceiptDelivered || len(p.IDs) != 1 || string(p.IDs[0]) != "b3" {
			t.Errorf("PendingReceiptBatch(-1) = %+v, %v", p, err)
		}
		return nil
	})
	update(t, s, func(tx Tx) error {
		if err := tx.DeleteReceipts("bob", ReceiptDelivered, [][]byte{[]byte("b3"), []byte("absent")}); err != nil {
			return err
		}
		p, err := tx.PendingReceiptBatch(-1)
		if err != nil || p == nil || p.Peer != "bob" || p.Type != ReceiptRead || len(p.IDs) != 2 || string(p.IDs[0]) != "b1" || string(p.IDs[1]) != "b2" {
			t.Errorf("PendingReceiptBatch after delete = %+v, %v", p, err)
		}
		return nil
	})
}
