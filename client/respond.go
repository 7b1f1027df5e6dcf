package client

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/sealpost/sealpost/internal/secmem"

	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/pqxdh"
	"github.com/sealpost/sealpost/crypto/ratchet"
)

// errReplayedInitial reports an initial message this device has answered
// before: a replay, refused while the signed prekey it names exists
// (spec/client.md §5.1).
var errReplayedInitial = errors.New("client: the message starts a session this device has already answered (a replay)")

// prekeyRef names a prekey.
type prekeyRef struct {
	kind keys.PrekeyKind
	id   uint32
}

// sessionStart is what a new responder session used, committed with the
// session in one transaction (spec/client.md §5.1 step 6): the one-time
// prekeys to delete, and the initial message to remember with the signed
// prekey it named. A nil *sessionStart (a message of an existing session)
// commits nothing.
type sessionStart struct {
	oneTime      []prekeyRef
	initialHash  []byte
	signedPrekey uint32
}

// commit deletes the one-time prekeys and remembers the initial message.
func (s *sessionStart) commit(tx localstore.Tx, now time.Time) error {
	if s == nil {
		return nil
	}
	for _, u := range s.oneTime {
		if err := tx.DeletePrekey(uint8(u.kind), u.id); err != nil && !errors.Is(err, localstore.ErrNotFound) {
			return err
		}
	}
	return tx.RememberInitial(s.initialHash, s.signedPrekey, now)
}

// usedOneTime reports whether the session used a one-time prekey, so that
// maintenance should look at the counts.
func (s *sessionStart) usedOneTime() bool { return s != nil && len(s.oneTime) > 0 }

// respond runs the PQXDH responder for an initial message with the
// prekeys it names (spec/pqxdh.md §5) and starts the ratchet. An initial
// message answered before is refused (errReplayedInitial). The private
// prekeys are moved from the store into guarded memory for the operation
// and wiped after it (spec/client.md §8).
func (c *Client) respond(tx localstore.Tx, dk *keys.DevicePrivateKeys, id *identity, sender *keys.DeviceCertificate, initial []byte) (*ratchet.State, *sessionStart, error) {
	m, err := pqxdh.ParseInitialMessage(initial)
	if err != nil {
		return nil, nil, err
	}
	h := sha256.Sum256(initial)
	start := &sessionStart{initialHash: h[:], signedPrekey: m.SignedPrekeyID}
	if seen, err := tx.InitialAnswered(start.initialHash); err != nil {
		return nil, nil, err
	} else if seen {
		return nil, nil, errReplayedInitial
	}
	var (
		pk     pqxdh.Prekeys
		locked lockedPrekeys
	)
	defer locked.destroy()
	var used []prekeyRef
	if pk.Signed, err = locked.load(tx, keys.SignedPrekey, m.SignedPrekeyID); err != nil {
		return nil, nil, err
	}
	if pk.KEM, err = locked.load(tx, m.KEMKind, m.KEMPrekeyID); err != nil {
		return nil, nil, err
	}
	if m.KEMKind == keys.OneTimeKEMPrekey {
		used = append(used, prekeyRef{keys.OneTimeKEMPrekey, m.KEMPrekeyID})
	}
	if m.HasOneTime {
		if pk.OneTime, err = locked.load(tx, keys.OneTimePrekey, m.OneTimePrekeyID); err != nil {
			return nil, nil, err
		}
		used = append(used, prekeyRef{keys.OneTimePrekey, m.OneTimePrekeyID})
	}
	x, err := pqxdh.Respond(dk, id.cert, sender, m, pk)
	if err != nil {
		return nil, nil, err
	}
	defer x.Zero()
	// The signed prekey is the responder's first ratchet key
	// (spec/ratchet.md §5.3): the state keeps its own copy.
	st, err := ratchet.NewResponder(x.SharedSecret, x.AD, [32]byte(pk.Signed.Secret))
	if err != nil {
		return nil, nil, err
	}
	start.oneTime = used
	return st, start, nil
}

// lockedPrekeys holds private prekeys loaded for one PQXDH response, each
// in its own guarded buffer.
type lockedPrekeys struct {
	keys []*keys.PrekeyPrivate
	bufs []*secmem.LockedBuffer
}

// load reads a private prekey from the store and moves its secret into
// guarded memory (wiping the copy the store returned).
func (l *lockedPrekeys) load(tx localstore.Tx, kind keys.PrekeyKind, id uint32) (*keys.PrekeyPrivate, error) {
	p, err := tx.Prekey(uint8(kind), id)
	if errors.Is(err, localstore.ErrNotFound) {
		return nil, fmt.Errorf("client: the message names %s %d, which this device does not have (used or expired)", kind, id)
	}
	if err != nil {
		return nil, err
	}
	var buf *secmem.LockedBuffer
	if err := guard(func() { buf = secmem.NewBufferFromBytes(p.Secret) }); err != nil {
		secmem.WipeBytes(p.Secret)
		return nil, err
	}
	l.bufs = append(l.bufs, buf)
	k, err := keys.LoadPrekeyPrivate(kind, id, buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%w: stored %s %d: %v", ErrCorrupt, kind, id, err)
	}
	l.keys = append(l.keys, k)
	return k, nil
}

// destroy drops the prekeys and wipes and frees their buffers.
func (l *lockedPrekeys) destroy() {
	for _, k := range l.keys {
		k.Forget()
	}
	for _, b := range l.bufs {
		b.Destroy()
	}
	l.keys, l.bufs = nil, nil
}
