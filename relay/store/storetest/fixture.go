package storetest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealpost/sealpost/relay/store"
)

// Addr returns the device address of (handle, device) in the relay's shape:
// u8 len(handle) || handle || u32 big-endian device id.
func Addr(handle string, device uint32) []byte {
	b := []byte{byte(len(handle))}
	b = append(b, handle...)
	return binary.BigEndian.AppendUint32(b, device)
}

// idSource hands out distinct message ids.
type idSource struct{ n atomic.Uint64 }

func (s *idSource) next() [store.MessageIDSize]byte {
	var id [store.MessageIDSize]byte
	copy(id[:], "storetest")
	binary.BigEndian.PutUint64(id[8:], s.n.Add(1))
	return id
}

// envelope returns n bytes that start with label, so tests can tell
// envelopes apart.
func envelope(label string, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	copy(b, label)
	return b
}

// newSend returns a send from sender of items under a fresh message id,
// at the fixture's clock, with the default limits, a TTL of one hour and a
// dedup window of one hour.
func (f *fixture) newSend(sender []byte, items ...store.Item) store.Send {
	return store.Send{
		Sender:        sender,
		MessageID:     f.ids.next(),
		Items:         items,
		Now:           f.now,
		Expiry:        f.now.Add(time.Hour),
		DedupUntil:    f.now.Add(time.Hour),
		MaxEnvelope:   maxEnvelope,
		MaxQueueCount: maxQueueCount,
		MaxQueueBytes: maxQueueBytes,
	}
}

// open opens the mailboxes of addrs.
func (f *fixture) open(addrs ...[]byte) {
	f.t.Helper()
	for _, a := range addrs {
		must(f.t, "OpenMailbox", f.q.OpenMailbox(f.ctx, a, f.now))
	}
}

// send runs s and checks it answered want (and duplicate).
func (f *fixture) send(s store.Send, duplicate bool, want ...store.Status) store.SendResult {
	f.t.Helper()
	r, err := f.q.Send(f.ctx, s)
	must(f.t, "Send", err)
	if !slices.Equal(r.Statuses, want) || r.Duplicate != duplicate {
		f.t.Fatalf("Send: got %v duplicate=%v, want %v duplicate=%v", r.Statuses, r.Duplicate, want, duplicate)
	}
	checkIDs(f.t, &s, r)
	return r
}

// stats returns the stats of addr, failing on error.
func (f *fixture) stats(addr []byte) store.Stats {
	f.t.Helper()
	st, err := f.q.Stats(f.ctx, addr)
	must(f.t, "Stats", err)
	return st
}

// wantStats checks the stats of addr.
func (f *fixture) wantStats(addr []byte, count int, n int64) {
	f.t.Helper()
	if st := f.stats(addr); st != (store.Stats{Count: count, Bytes: n}) {
		f.t.Fatalf("Stats(%x) = %+v, want {Count:%d Bytes:%d}", addr, st, count, n)
	}
}

// fetchAll returns every live envelope of addr at now.
func (f *fixture) fetchAll(addr []byte, now time.Time) []store.Envelope {
	f.t.Helper()
	var all []store.Envelope
	after := int64(0)
	for {
		es, err := f.q.Fetch(f.ctx, addr, after, 1000, now)
		must(f.t, "Fetch", err)
		if len(es) == 0 {
			return all
		}
		all = append(all, es...)
		after = es[len(es)-1].ID
	}
}

// snapshot is what the suite can observe of some mailboxes.
type snapshot map[string]string

// snap records the stats and live envelopes of addrs at the fixture's
// clock; an address without a mailbox is recorded as such.
func (f *fixture) snap(addrs ...[]byte) snapshot {
	f.t.Helper()
	s := snapshot{}
	for _, a := range addrs {
		st, err := f.q.Stats(f.ctx, a)
		if errors.Is(err, store.ErrNoMailbox) {
			s[string(a)] = "no mailbox"
			continue
		}
		must(f.t, "Stats", err)
		var b bytes.Buffer
		fmt.Fprintf(&b, "%+v", st)
		for _, e := range f.fetchAll(a, f.now) {
			fmt.Fprintf(&b, " {%d %x %d %d}", e.ID, e.Data, e.Arrived.UnixMilli(), e.Expiry.UnixMilli())
		}
		s[string(a)] = b.String()
	}
	return s
}

// unchanged fails unless the mailboxes look as they did at before.
func (f *fixture) unchanged(what string, before snapshot) {
	f.t.Helper()
	addrs := make([][]byte, 0, len(before))
	for a := range before {
		addrs = append(addrs, []byte(a))
	}
	after := f.snap(addrs...)
	for a, b := range before {
		if after[a] != b {
			f.t.Fatalf("%s changed mailbox %x:\nbefore %s\nafter  %s", what, a, b, after[a])
		}
	}
}

// wantEnvelopes checks that es holds exactly data in order, with
// increasing IDs, the given arrival and expiry.
func wantEnvelopes(t *testing.T, es []store.Envelope, arrived, expiry time.Time, data ...[]byte) {
	t.Helper()
	if len(es) != len(data) {
		t.Fatalf("got %d envelopes, want %d", len(es), len(data))
	}
	for i, e := range es {
		if !bytes.Equal(e.Data, data[i]) {
			t.Fatalf("envelope %d: got data %.20q, want %.20q", i, e.Data, data[i])
		}
		if i > 0 && e.ID <= es[i-1].ID {
			t.Fatalf("envelope %d: ID %d after %d", i, e.ID, es[i-1].ID)
		}
		if !e.Arrived.Equal(arrived) || !e.Expiry.Equal(expiry) {
			t.Fatalf("envelope %d: arrived %v expiry %v, want %v %v", i, e.Arrived, e.Expiry, arrived, expiry)
		}
	}
}

// ids returns the IDs of es.
func ids(es []store.Envelope) []int64 {
	out := make([]int64, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

// must fails on err.
func must(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantErr fails unless err matches target.
func wantErr(t testing.TB, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

// checkIDs checks the shape of r's IDs and Prevs: nil for a duplicate,
// else one of each per item, an ID exactly for every Stored item, each
// Prev below its ID, and, per recipient, IDs increasing along the items of
// s, each item's Prev the ID of the one before (IDs are per mailbox).
func checkIDs(t testing.TB, s *store.Send, r store.SendResult) {
	t.Helper()
	if r.Duplicate {
		if r.IDs != nil || r.Prevs != nil {
			t.Fatalf("duplicate answered with IDs %v Prevs %v", r.IDs, r.Prevs)
		}
		return
	}
	if len(r.IDs) != len(r.Statuses) || len(r.Prevs) != len(r.Statuses) {
		t.Fatalf("%d statuses, %d IDs, %d Prevs", len(r.Statuses), len(r.IDs), len(r.Prevs))
	}
	last := map[string]int64{}
	for i, st := range r.Statuses {
		id, prev := r.IDs[i], r.Prevs[i]
		if st != store.Stored {
			if id != 0 || prev != 0 {
				t.Fatalf("item %d (%v): ID %d Prev %d, want 0 0", i, st, id, prev)
			}
			continue
		}
		to := string(s.Items[i].Recipient)
		l, seen := last[to]
		if id <= l || prev < 0 || prev >= id || seen && prev != l {
			t.Fatalf("item %d: ID %d Prev %d after ID %d of its mailbox", i, id, prev, l)
		}
		last[to] = id
	}
}
