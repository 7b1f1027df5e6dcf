package ratchet

import "github.com/sealpost/sealpost/crypto/internal/prim"

// Decrypt authenticates and decrypts one message (spec/ratchet.md §7;
// Signal §3.5 RatchetDecrypt). It takes the message key from the skipped
// key store, from the current receiving chain, or from a new receiving
// chain after the receiving half of a DH ratchet step (Signal §2.3), storing
// the keys of skipped messages (Signal §2.6) within MaxSkipPerChain and
// MaxSkippedKeys.
//
// Every result is computed in temporaries and committed only after the
// message authenticates: on any error the State is unchanged. Errors are
// ErrMalformed, ErrOldMessage, ErrTooManySkipped or ErrDecrypt.
func (s *State) Decrypt(msg []byte) ([]byte, error) {
	// §7.1 step 1: parse.
	h, hl, err := parseMessage(msg)
	if err != nil {
		return nil, err
	}
	ct := msg[hl:]
	adh := s.adHeader(msg[:hl])

	sameChain := s.hasDHr && h.dh == s.dhr

	// §7.1 step 2: a skipped message key (Signal §3.5 TrySkippedMessageKeys).
	if !sameChain || h.n < s.nr {
		if i := s.findSkipped(&h.dh, h.n); i >= 0 {
			pt, err := open(&s.skipped[i].mk, ct, adh)
			if err != nil {
				return nil, ErrDecrypt
			}
			s.removeSkipped(i)
			s.received()
			return pt, nil
		}
	}

	if sameChain {
		return s.decryptCurrent(&h, ct, adh)
	}
	return s.decryptNewChain(&h, ct, adh)
}

// decryptCurrent decrypts a message of the current receiving chain
// (spec/ratchet.md §7.1 step 3).
func (s *State) decryptCurrent(h *header, ct, adh []byte) ([]byte, error) {
	switch {
	case !s.hasCKr:
		// An initiator's DHr is the responder's signed prekey, which never
		// sends.
		return nil, ErrDecrypt
	case h.n < s.nr:
		return nil, ErrOldMessage
	case h.n-s.nr > MaxSkipPerChain:
		return nil, ErrTooManySkipped
	}
	ck := s.ckr
	defer prim.Zero(ck[:])
	skipped := skipKeys(nil, &ck, &h.dh, s.nr, h.n)
	mk, next := kdfCK(&ck)
	pt, err := open(&mk, ct, adh)
	prim.Zero(mk[:])
	if err != nil {
		prim.Zero(next[:])
		zeroSkipped(skipped)
		return nil, ErrDecrypt
	}
	// §7.4: commit.
	s.ckr = next
	s.nr = h.n + 1
	s.addSkipped(skipped)
	s.received()
	return pt, nil
}

// decryptNewChain decrypts a message carrying a new ratchet public key:
// the receiving half of a DH ratchet step (spec/ratchet.md §7.1 step 4;
// Signal §3.5 DHRatchet, with the generation of the next key pair deferred
// to Encrypt as Signal §6.5 allows).
func (s *State) decryptNewChain(h *header, ct, adh []byte) ([]byte, error) {
	switch {
	case !s.hasDHs:
		// Already stepped since we last sent: no honest peer sends a second
		// new key before it has received ours.
		return nil, ErrDecrypt
	case s.hasCKr && h.pn > s.nr && h.pn-s.nr > MaxSkipPerChain:
		return nil, ErrTooManySkipped
	case h.n > MaxSkipPerChain:
		return nil, ErrTooManySkipped
	}
	dh, err := prim.DH(s.dhsPriv[:], h.dh[:])
	if err != nil {
		return nil, ErrDecrypt
	}

	// Skip the rest of the current receiving chain up to PN (Signal §3.5
	// SkipMessageKeys(state, header.pn)).
	var skipped []skippedKey
	if s.hasCKr && h.pn > s.nr {
		ck := s.ckr
		skipped = skipKeys(skipped, &ck, &s.dhr, s.nr, h.pn)
		prim.Zero(ck[:])
	}

	rk, ck := kdfRK(&s.rk, dh)
	prim.Zero(dh)
	defer prim.Zero(ck[:])
	skipped = skipKeys(skipped, &ck, &h.dh, 0, h.n)
	mk, next := kdfCK(&ck)
	pt, err := open(&mk, ct, adh)
	prim.Zero(mk[:])
	if err != nil {
		prim.Zero(rk[:])
		prim.Zero(next[:])
		zeroSkipped(skipped)
		return nil, ErrDecrypt
	}

	// §7.4: commit. The sending chain ends; Encrypt starts the next with a
	// new key pair. The old ratchet private key is no longer needed.
	s.pn, s.ns = s.ns, 0
	prim.Zero(s.cks[:])
	s.hasCKs = false
	prim.Zero(s.dhsPriv[:])
	prim.Zero(s.dhsPub[:])
	s.hasDHs = false
	s.dhr, s.hasDHr = h.dh, true
	s.rk = rk
	s.ckr, s.hasCKr = next, true
	s.nr = h.n + 1
	s.addSkipped(skipped)
	s.received()
	return pt, nil
}

// adHeader returns AD || header (spec/ratchet.md §3.4) in the State's
// scratch buffer.
func (s *State) adHeader(hdr []byte) []byte {
	s.scratch = append(append(s.scratch[:0], s.ad...), hdr...)
	return s.scratch
}

// received records that a message decrypted: an initiator stops attaching
// the PQXDH initial message (spec/ratchet.md §7.4).
func (s *State) received() {
	if s.initial != nil {
		prim.Zero(s.initial)
		s.initial = nil
	}
}
