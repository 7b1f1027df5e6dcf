package group

import (
	"fmt"
	"testing"
)

// bigGroup returns a world and a state of n members ("admin" and
// member-0000…), "admin" the one admin.
func bigGroup(b *testing.B, n int) (*world, *State) {
	handles := make([]string, n-1)
	for i := range handles {
		handles[i] = fmt.Sprintf("member-%04d", i)
	}
	w := newWorld(b, append([]string{"admin"}, handles...)...)
	_, s := w.create("admin", "big", handles...)
	return w, s
}

// BenchmarkApply1000 is one member's cost to verify and apply a change
// (state hash, signature, rules, new state) on a state of 1000 members
// (999 for the Add).
func BenchmarkApply1000(b *testing.B) {
	for _, k := range []struct {
		name    string
		n       int
		kind    Kind
		nm      string
		members []string
	}{
		{"rename", 1000, KindRename, "bigger", nil},
		{"add", 999, KindAdd, "", []string{"newcomer"}},
		{"remove", 1000, KindRemove, "", []string{"member-0500"}},
	} {
		b.Run(k.name, func(b *testing.B) {
			w, s := bigGroup(b, k.n)
			c := w.change(s, "admin", k.kind, k.nm, k.members...)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Apply(s, c, w.lookup); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTrackerAdd1000 is Tracker.Add of a change on a state of 1000
// members: Apply, the new state's hash and the Tracker's bookkeeping
// (NewTracker, which hashes the base, is outside the timing).
func BenchmarkTrackerAdd1000(b *testing.B) {
	w, s := bigGroup(b, 1000)
	c := w.change(s, "admin", KindRename, "bigger")
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		tr, _ := NewTracker(s)
		b.StartTimer()
		if _, err := tr.Add(c, w.lookup); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseState1000 parses a 1000-member state.
func BenchmarkParseState1000(b *testing.B) {
	_, s := bigGroup(b, 1000)
	enc := s.Marshal()
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseState(enc); err != nil {
			b.Fatal(err)
		}
	}
}
