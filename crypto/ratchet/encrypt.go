package ratchet

import (
	"fmt"
	"io"
	"math"

	"github.com/sealpost/sealpost/crypto/internal/prim"
)

// Encrypt encrypts plaintext as the next message of the sending chain
// (spec/ratchet.md §6; Signal §3.4 RatchetEncrypt). If no sending chain
// exists, because a message with a new ratchet key was decrypted since the
// last one was sent, it first generates a ratchet key pair, reading 32 bytes
// from rand, and takes the sending half of a DH ratchet step (Signal §2.3,
// §6.5: generation deferred from the receiving half to here). An initiator
// that has not yet decrypted a message attaches the PQXDH initial message.
//
// On error the State is unchanged.
func (s *State) Encrypt(rand io.Reader, plaintext []byte) ([]byte, error) {
	rk, cks, ns, dhsPub := s.rk, s.cks, s.ns, &s.dhsPub

	// §6 step 1: start a sending chain if there is none, in a temporary
	// State so that a failure changes nothing.
	var t *State
	if !s.hasCKs {
		if !s.hasDHr {
			return nil, ErrNotReady
		}
		t = &State{rk: s.rk, dhr: s.dhr, hasDHr: true}
		defer t.Destroy()
		if err := t.startSendingChain(rand); err != nil {
			return nil, err
		}
		rk, cks, ns, dhsPub = t.rk, t.cks, t.ns, &t.dhsPub
	} else if ns == math.MaxUint32 {
		// §6 step 2: N = 2^32-1 is never sent.
		return nil, ErrExhausted
	}
	defer prim.Zero(cks[:])

	// §6 step 3: advance the sending chain (Signal §2.2).
	mk, nextCK := kdfCK(&cks)
	defer prim.Zero(mk[:])

	// §6 steps 4-5: header, then AEAD with AD || header (§3.4). The AD is
	// written in front of the output so AD || header is contiguous; the
	// message is the part after it.
	hl := headerSize(s.initial)
	buf := make([]byte, 0, len(s.ad)+hl+len(plaintext)+prim.AEADTagSize)
	buf = append(buf, s.ad...)
	buf = appendHeader(buf, s.initial, dhsPub, s.pn, ns)
	buf = seal(buf, &mk, plaintext, buf)

	// §6 step 6: commit.
	if t != nil {
		s.hasDHs, s.dhsPriv, s.dhsPub = t.hasDHs, t.dhsPriv, t.dhsPub
		s.rk = rk
		s.hasCKs = true
	}
	s.cks = nextCK
	s.ns = ns + 1
	return buf[len(s.ad):], nil
}

// startSendingChain generates a new ratchet key pair DHs from rand and
// derives RK, CKs = KDF_RK(RK, DH(DHs, DHr)) (spec/ratchet.md §6 step 1;
// Signal §3.3, §3.5 DHRatchet, second half). The caller has checked DHr.
func (s *State) startSendingChain(rand io.Reader) error {
	var seed [KeySize]byte
	defer prim.Zero(seed[:])
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return fmt.Errorf("ratchet: reading randomness: %w", err)
	}
	if err := s.setDHs(seed[:]); err != nil {
		return err
	}
	dh, err := prim.DH(s.dhsPriv[:], s.dhr[:])
	if err != nil {
		return fmt.Errorf("ratchet: %w", err)
	}
	defer prim.Zero(dh)
	s.rk, s.cks = kdfRK(&s.rk, dh)
	s.hasCKs = true
	s.ns = 0
	return nil
}
