package ratchet

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/sealpost/sealpost/crypto/internal/prim"
)

// State encoding, spec/ratchet.md §8.1:
//
//	version        1   StateVersion (0x02; Unmarshal also reads 0x01, §8.3)
//	flags          1   bit 0 DHs, bit 1 DHr, bit 2 CKs, bit 3 CKr,
//	                   bit 4 initial message attached; bits 5-7 zero
//	RK            32
//	DHs private   32   zero when absent
//	DHr           32   zero when absent
//	CKs           32   zero when absent
//	CKr           32   zero when absent
//	Ns, Nr, PN   3×4   big-endian
//	AD length      2   big-endian, 1..MaxADSize
//	AD             A
//	initial length 2   big-endian, 0 when not attached, else 1..MaxInitialSize
//	initial        I
//	skipped count  2   big-endian, 0..MaxSkippedKeys
//	skipped      76×K  ratchet public key 32 || N 4 || message key 32 ||
//	                   stored 8 (Unix seconds, 0 until ExpireSkipped), oldest first;
//	                   68×K without stored in version 0x01
const (
	stFlagDHs     = 1 << 0
	stFlagDHr     = 1 << 1
	stFlagCKs     = 1 << 2
	stFlagCKr     = 1 << 3
	stFlagInitial = 1 << 4
	stKnownFlags  = 0x1f

	// The four combinations of DHs, DHr, CKs and CKr a session reaches
	// (spec/ratchet.md §5.4).
	stInitiatorFresh = stFlagDHs | stFlagDHr | stFlagCKs
	stResponderFresh = stFlagDHs
	stReceived       = stFlagDHr | stFlagCKr
	stBoth           = stFlagDHs | stFlagDHr | stFlagCKs | stFlagCKr

	stFixedSize     = 1 + 1 + 5*KeySize + 3*4
	skippedKeyLenV1 = KeySize + 4 + KeySize
	skippedKeyLen   = skippedKeyLenV1 + 8

	stateVersion1 = 0x01
)

// Marshal returns the canonical encoding of the State (spec/ratchet.md
// §8.1). It holds every secret of the session: store it encrypted and wipe
// it after use.
func (s *State) Marshal() []byte {
	var flags byte
	if s.hasDHs {
		flags |= stFlagDHs
	}
	if s.hasDHr {
		flags |= stFlagDHr
	}
	if s.hasCKs {
		flags |= stFlagCKs
	}
	if s.hasCKr {
		flags |= stFlagCKr
	}
	if s.initial != nil {
		flags |= stFlagInitial
	}
	b := make([]byte, 0, stFixedSize+2+len(s.ad)+2+len(s.initial)+2+skippedKeyLen*len(s.skipped))
	b = append(b, StateVersion, flags)
	b = append(b, s.rk[:]...)
	b = append(b, s.dhsPriv[:]...)
	b = append(b, s.dhr[:]...)
	b = append(b, s.cks[:]...)
	b = append(b, s.ckr[:]...)
	b = binary.BigEndian.AppendUint32(b, s.ns)
	b = binary.BigEndian.AppendUint32(b, s.nr)
	b = binary.BigEndian.AppendUint32(b, s.pn)
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.ad)))
	b = append(b, s.ad...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.initial)))
	b = append(b, s.initial...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.skipped)))
	for i := range s.skipped {
		e := &s.skipped[i]
		b = append(b, e.dh[:]...)
		b = binary.BigEndian.AppendUint32(b, e.n)
		b = append(b, e.mk[:]...)
		b = binary.BigEndian.AppendUint64(b, e.stored)
	}
	return b
}

// Unmarshal decodes a State marshalled by Marshal, refusing anything that
// is not the canonical encoding of a reachable state (spec/ratchet.md
// §8.2) with ErrInvalidState. It also reads version 0x01 states, whose
// skipped keys it takes as not yet stamped (§8.3). b is not retained.
func Unmarshal(b []byte) (*State, error) {
	s, err := unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidState, err)
	}
	return s, nil
}

// reader consumes b front to back; ok turns false on the first short read.
type reader struct {
	b  []byte
	ok bool
}

func (r *reader) next(n int) []byte {
	if !r.ok || len(r.b) < n {
		r.ok = false
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) key(dst *[KeySize]byte) {
	if v := r.next(KeySize); v != nil {
		copy(dst[:], v)
	}
}

func (r *reader) u16() int {
	if v := r.next(2); v != nil {
		return int(binary.BigEndian.Uint16(v))
	}
	return 0
}

func (r *reader) u64() uint64 {
	if v := r.next(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if v := r.next(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func unmarshal(b []byte) (*State, error) {
	r := reader{b: b, ok: true}
	hdr := r.next(2)
	if hdr == nil || (hdr[0] != StateVersion && hdr[0] != stateVersion1) {
		return nil, fmt.Errorf("unknown version")
	}
	entryLen := skippedKeyLen
	if hdr[0] == stateVersion1 {
		entryLen = skippedKeyLenV1
	}
	flags := hdr[1]
	if flags&^stKnownFlags != 0 {
		return nil, fmt.Errorf("unknown flags")
	}
	var s State
	ok := false
	defer func() {
		if !ok {
			s.Destroy()
		}
	}()
	r.key(&s.rk)
	r.key(&s.dhsPriv)
	r.key(&s.dhr)
	r.key(&s.cks)
	r.key(&s.ckr)
	s.ns, s.nr, s.pn = r.u32(), r.u32(), r.u32()
	adLen := r.u16()
	s.ad = append([]byte(nil), r.next(adLen)...)
	if initial := r.next(r.u16()); len(initial) > 0 {
		s.initial = append([]byte(nil), initial...)
	}
	count := r.u16()
	if !r.ok {
		return nil, fmt.Errorf("truncated")
	}
	if count > MaxSkippedKeys {
		return nil, fmt.Errorf("%d skipped keys, more than %d", count, MaxSkippedKeys)
	}
	if len(r.b) != count*entryLen {
		return nil, fmt.Errorf("skipped keys: %d bytes for %d entries", len(r.b), count)
	}
	if count > 0 {
		s.skipped = make([]skippedKey, count)
	}
	for i := range s.skipped {
		e := &s.skipped[i]
		r.key(&e.dh)
		e.n = r.u32()
		r.key(&e.mk)
		if entryLen == skippedKeyLen {
			e.stored = r.u64()
		}
	}

	s.hasDHr = flags&stFlagDHr != 0
	s.hasCKs = flags&stFlagCKs != 0
	s.hasCKr = flags&stFlagCKr != 0
	if err := s.check(flags, adLen); err != nil {
		return nil, err
	}
	if flags&stFlagDHs != 0 {
		if err := s.setDHs(s.dhsPriv[:]); err != nil {
			return nil, err
		}
	}
	ok = true
	return &s, nil
}

// check applies the validity rules of spec/ratchet.md §8.2 to a decoded
// State whose DHs has not been set up yet.
func (s *State) check(flags byte, adLen int) error {
	var zero [KeySize]byte
	if adLen == 0 || adLen > MaxADSize {
		return fmt.Errorf("associated data of %d bytes", adLen)
	}
	if len(s.initial) > MaxInitialSize {
		return fmt.Errorf("initial message of %d bytes", len(s.initial))
	}
	if (flags&stFlagInitial != 0) != (s.initial != nil) {
		return fmt.Errorf("initial message flag and length disagree")
	}
	keys := flags &^ stFlagInitial
	switch keys {
	case stInitiatorFresh:
		if s.initial == nil || s.pn != 0 || len(s.skipped) != 0 {
			return fmt.Errorf("initiator state before any reply must attach the initial message and have no PN or skipped keys")
		}
	case stResponderFresh:
		if s.ns != 0 || s.pn != 0 || len(s.skipped) != 0 {
			return fmt.Errorf("responder state before any message must have no counters or skipped keys")
		}
	case stReceived, stBoth:
		if s.initial != nil {
			return fmt.Errorf("initial message attached after a reply")
		}
	default:
		return fmt.Errorf("unreachable key flags %#x", keys)
	}
	for _, f := range []struct {
		flag byte
		key  *[KeySize]byte
	}{{stFlagDHs, &s.dhsPriv}, {stFlagDHr, &s.dhr}, {stFlagCKs, &s.cks}, {stFlagCKr, &s.ckr}} {
		if flags&f.flag == 0 && *f.key != zero {
			return fmt.Errorf("absent key not zero")
		}
	}
	if !s.hasCKs && s.ns != 0 {
		return fmt.Errorf("message counter Ns without a sending chain")
	}
	if s.hasCKr != (s.nr != 0) {
		return fmt.Errorf("counter Nr must be non-zero exactly when a receiving chain exists")
	}
	if s.hasDHr && prim.CheckX25519Public(s.dhr[:]) != nil {
		return fmt.Errorf("invalid DHr")
	}
	seen := make(map[skipID]struct{}, len(s.skipped))
	for i := range s.skipped {
		e := &s.skipped[i]
		id := skipID{e.dh, e.n}
		if _, dup := seen[id]; dup {
			return fmt.Errorf("duplicate skipped key")
		}
		seen[id] = struct{}{}
		if e.n == math.MaxUint32 || prim.CheckX25519Public(e.dh[:]) != nil {
			return fmt.Errorf("invalid skipped key entry")
		}
		if s.hasDHr && e.dh == s.dhr && e.n >= s.nr {
			return fmt.Errorf("skipped key of the current chain at or after Nr")
		}
	}
	return nil
}

type skipID struct {
	dh [KeySize]byte
	n  uint32
}
