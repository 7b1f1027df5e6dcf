package senderkey

import (
	"crypto/ed25519"
	"time"

	"github.com/sealpost/sealpost/crypto/internal/prim"
)

// ReceivingChain is what a member device keeps of another member device's
// sender key (spec/senderkey.md §6): it verifies and decrypts that
// device's group messages, keeping the keys of skipped iterations within
// bounds. The zero ReceivingChain is not usable; make one with
// NewReceivingChain or UnmarshalReceivingChain.
type ReceivingChain struct {
	group     GroupID
	chain     ChainID
	pub       [KeySize]byte // Ed25519 public signing key, checked
	iteration uint32        // of the next message expected on the chain
	ck        [KeySize]byte // chain key of iteration
	skipped   []skippedKey  // oldest first
	buf       []byte        // scratch for AD and signed bytes; not part of the state
}

// skippedKey is the message key of a skipped iteration, and when
// ExpireSkipped first saw it (Unix seconds, 0 until then).
type skippedKey struct {
	iteration uint32
	mk        [KeySize]byte
	stored    uint64
}

// NewReceivingChain makes the receiving chain of a distribution
// (spec/senderkey.md §6): it decrypts messages from d's iteration on.
// d is copied; the caller destroys it. It refuses with ErrMalformed a
// distribution that ParseDistribution would refuse.
func NewReceivingChain(d *Distribution) (*ReceivingChain, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	return &ReceivingChain{group: d.GroupID, chain: d.ChainID, pub: d.SigningKey, iteration: d.Iteration, ck: d.ChainKey}, nil
}

// GroupID returns the chain's group.
func (r *ReceivingChain) GroupID() GroupID { return r.group }

// ChainID returns the chain's id.
func (r *ReceivingChain) ChainID() ChainID { return r.chain }

// Iteration returns the iteration of the next message expected on the chain.
func (r *ReceivingChain) Iteration() uint32 { return r.iteration }

// SigningKey returns the chain's public signing key.
func (r *ReceivingChain) SigningKey() [KeySize]byte { return r.pub }

// Decrypt verifies and decrypts one group message (spec/senderkey.md §6.1).
// The signature is verified before any key is derived, and every change is
// made in temporaries committed only after the message authenticates: on
// any error the chain is unchanged. Errors are ErrMalformed,
// ErrUnknownChain, ErrBadSignature, ErrOldMessage, ErrTooManySkipped and
// ErrDecrypt.
func (r *ReceivingChain) Decrypt(msg []byte) ([]byte, error) {
	// Step 1: parse.
	h, err := ParseHeader(msg)
	if err != nil {
		return nil, err
	}
	// Step 2: the chain.
	if h.GroupID != r.group || h.ChainID != r.chain {
		return nil, ErrUnknownChain
	}
	// Step 3: the signature, over every byte before it.
	body, sig := msg[:len(msg)-prim.SignatureSize], msg[len(msg)-prim.SignatureSize:]
	r.buf = signedMessage(r.buf, body)
	if !ed25519.Verify(r.pub[:], r.buf, sig) {
		return nil, ErrBadSignature
	}
	header, ct := body[:HeaderSize], body[HeaderSize:]
	ad := messageAD(r.buf[:0], header, &r.pub)

	// Step 4: a message before the chain's iteration needs a skipped key.
	if h.Iteration < r.iteration {
		i := r.findSkipped(h.Iteration)
		if i < 0 {
			return nil, ErrOldMessage
		}
		pt, err := open(&r.skipped[i].mk, ct, ad)
		if err != nil {
			return nil, ErrDecrypt
		}
		r.removeSkipped(i)
		return pt, nil
	}
	// Step 5: the bound.
	if h.Iteration-r.iteration > MaxSkip {
		return nil, ErrTooManySkipped
	}
	// Step 6: skip, derive, decrypt.
	ck := r.ck
	defer prim.Zero(ck[:])
	var pending []skippedKey
	if n := h.Iteration - r.iteration; n > 0 {
		pending = make([]skippedKey, 0, n)
		for it := r.iteration; it < h.Iteration; it++ {
			mk, next := kdfCK(&ck)
			pending = append(pending, skippedKey{iteration: it, mk: mk})
			ck = next
			prim.Zero(mk[:])
			prim.Zero(next[:])
		}
	}
	mk, next := kdfCK(&ck)
	pt, err := open(&mk, ct, ad)
	prim.Zero(mk[:])
	if err != nil {
		prim.Zero(next[:])
		zeroSkipped(pending)
		return nil, ErrDecrypt
	}
	// Step 7: commit.
	r.ck = next
	prim.Zero(next[:])
	r.iteration = h.Iteration + 1
	r.addSkipped(pending)
	return pt, nil
}

// open decrypts ciphertext under the message key mk (§3.3).
func open(mk *[KeySize]byte, ciphertext, ad []byte) ([]byte, error) {
	key, nonce := messageCipher(mk)
	out, err := prim.AEADOpen(nil, key[:], nonce[:], ciphertext, ad)
	prim.Zero(key[:])
	return out, err
}

// findSkipped returns the index of the skipped key of iteration it, or -1.
// Iterations are public: the search need not be constant time.
func (r *ReceivingChain) findSkipped(it uint32) int {
	for i := len(r.skipped) - 1; i >= 0; i-- {
		if r.skipped[i].iteration == it {
			return i
		}
	}
	return -1
}

// removeSkipped deletes entry i, keeping the others' order, and erases
// its key.
func (r *ReceivingChain) removeSkipped(i int) {
	last := len(r.skipped) - 1
	copy(r.skipped[i:], r.skipped[i+1:])
	prim.Zero(r.skipped[last].mk[:])
	r.skipped = r.skipped[:last]
}

// addSkipped appends entries and discards the oldest past MaxSkippedKeys
// (§6.2).
func (r *ReceivingChain) addSkipped(entries []skippedKey) {
	if len(entries) == 0 {
		return
	}
	if need := len(r.skipped) + len(entries); need > cap(r.skipped) {
		// Grow by hand so that the old array's keys can be erased.
		grown := make([]skippedKey, len(r.skipped), max(need, 2*cap(r.skipped)))
		copy(grown, r.skipped)
		zeroSkipped(r.skipped)
		r.skipped = grown
	}
	r.skipped = append(r.skipped, entries...)
	zeroSkipped(entries)
	if over := len(r.skipped) - MaxSkippedKeys; over > 0 {
		old := len(r.skipped)
		zeroSkipped(r.skipped[:over])
		copy(r.skipped, r.skipped[over:])
		zeroSkipped(r.skipped[MaxSkippedKeys:old])
		r.skipped = r.skipped[:MaxSkippedKeys]
	}
}

func zeroSkipped(entries []skippedKey) {
	for i := range entries {
		prim.Zero(entries[i].mk[:])
	}
}

// Skipped returns how many skipped message keys the chain holds.
func (r *ReceivingChain) Skipped() int { return len(r.skipped) }

// ExpireSkipped applies the age bound of spec/senderkey.md §6.2: it stamps
// the skipped keys stored since the last call with now, and discards (and
// erases) those stamped more than MaxSkippedKeyAge before now. It returns
// how many it discarded. The caller runs it whenever it stores the chain.
func (r *ReceivingChain) ExpireSkipped(now time.Time) int {
	t := uint64(max(now.Unix(), 1))
	limit := uint64(MaxSkippedKeyAge / time.Second)
	kept := r.skipped[:0]
	dropped := 0
	for _, e := range r.skipped {
		if e.stored == 0 {
			e.stored = t
		}
		if t > e.stored && t-e.stored > limit {
			dropped++
			continue
		}
		kept = append(kept, e)
	}
	zeroSkipped(r.skipped[len(kept):])
	r.skipped = kept
	return dropped
}

// Destroy overwrites the chain's secrets and leaves it unusable. Erasure
// is best effort under a garbage collector.
func (r *ReceivingChain) Destroy() {
	zeroSkipped(r.skipped)
	prim.Zero(r.ck[:])
	prim.Zero(r.buf)
	*r = ReceivingChain{}
}
