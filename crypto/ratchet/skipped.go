package ratchet

import (
	"time"

	"github.com/sealpost/sealpost/crypto/internal/prim"
)

// The skipped message key store, spec/ratchet.md §7.2 and §7.3
// (Signal §2.6, §3.2 MKSKIPPED, §3.5, §6.4). Entries are kept in insertion
// order, oldest first; past MaxSkippedKeys the oldest are discarded, and
// ExpireSkipped discards those older than MaxSkippedKeyAge.

// skipKeys advances the chain key ck from message number from to until,
// appending the message key of each skipped message to dst (Signal §3.5
// SkipMessageKeys). The caller has checked until-from ≤ MaxSkipPerChain.
func skipKeys(dst []skippedKey, ck *[KeySize]byte, dh *[KeySize]byte, from, until uint32) []skippedKey {
	if until <= from {
		return dst
	}
	if dst == nil {
		dst = make([]skippedKey, 0, until-from)
	}
	for n := from; n < until; n++ {
		mk, next := kdfCK(ck)
		dst = append(dst, skippedKey{dh: *dh, n: n, mk: mk})
		*ck = next
		prim.Zero(mk[:])
	}
	return dst
}

// findSkipped returns the index of the entry for (dh, n), or -1. Ratchet
// public keys and message numbers are public, so the search need not be
// constant time.
func (s *State) findSkipped(dh *[KeySize]byte, n uint32) int {
	for i := len(s.skipped) - 1; i >= 0; i-- {
		if s.skipped[i].n == n && s.skipped[i].dh == *dh {
			return i
		}
	}
	return -1
}

// removeSkipped deletes entry i, keeping the order of the others.
func (s *State) removeSkipped(i int) {
	last := len(s.skipped) - 1
	copy(s.skipped[i:], s.skipped[i+1:])
	prim.Zero(s.skipped[last].mk[:])
	s.skipped = s.skipped[:last]
}

// addSkipped appends entries and discards the oldest past MaxSkippedKeys.
func (s *State) addSkipped(entries []skippedKey) {
	if len(entries) == 0 {
		return
	}
	if need := len(s.skipped) + len(entries); need > cap(s.skipped) {
		// Grow by hand so the old array's keys can be wiped.
		grown := make([]skippedKey, len(s.skipped), max(need, 2*cap(s.skipped)))
		copy(grown, s.skipped)
		zeroSkipped(s.skipped)
		s.skipped = grown
	}
	s.skipped = append(s.skipped, entries...)
	zeroSkipped(entries)
	if over := len(s.skipped) - MaxSkippedKeys; over > 0 {
		old := len(s.skipped)
		zeroSkipped(s.skipped[:over])
		copy(s.skipped, s.skipped[over:])
		zeroSkipped(s.skipped[MaxSkippedKeys:old])
		s.skipped = s.skipped[:MaxSkippedKeys]
	}
}

func zeroSkipped(entries []skippedKey) {
	for i := range entries {
		prim.Zero(entries[i].mk[:])
	}
}

// ExpireSkipped applies the age bound of spec/ratchet.md §7.3: it stamps
// the skipped keys stored since the last call with now, and discards (and
// erases) those stamped more than MaxSkippedKeyAge before now. It returns
// how many it discarded. Decrypt stores keys unstamped, so it needs no
// clock; the caller runs ExpireSkipped whenever it stores the State.
func (s *State) ExpireSkipped(now time.Time) int {
	t := uint64(max(now.Unix(), 1))
	limit := uint64(MaxSkippedKeyAge / time.Second)
	kept := s.skipped[:0]
	dropped := 0
	for _, e := range s.skipped {
		if e.stored == 0 {
			e.stored = t
		}
		if t > e.stored && t-e.stored > limit {
			dropped++
			continue
		}
		kept = append(kept, e)
	}
	zeroSkipped(s.skipped[len(kept):])
	s.skipped = kept
	return dropped
}
