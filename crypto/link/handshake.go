package link

import (
	"crypto/mlkem"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/sealpost/sealpost/crypto/internal/prim"
	"github.com/sealpost/sealpost/crypto/keys"
)

// Sizes of the primitives (spec/linking.md §4).
const (
	kemCiphertextSize = mlkem.CiphertextSize768 // 1088
	kemSeedSize       = mlkem.SeedSize          // 64: d || z
	tagSize           = prim.AEADTagSize        // 16
	keySize           = prim.AEADKeySize        // 32
	// msg2PlaintextSize is msg2's plaintext: r_N (32), the name's length
	// (1), the name zero-padded to MaxNameLen (64) (spec/linking.md §4.3).
	msg2PlaintextSize = HashSize + 1 + MaxNameLen // 97
)

// state is a handshake party's state: out-of-order steps are refused.
type state uint8

const (
	stateWaiting   state = iota // Responder: offer out; Initiator: msg1 out
	stateDone                   // Accept or Finish succeeded
	stateDestroyed              // Destroy called
)

func (s state) String() string {
	switch s {
	case stateWaiting:
		return "waiting"
	case stateDone:
		return "done"
	case stateDestroyed:
		return "destroyed"
	}
	return "unknown"
}

// sessionKeys are the outputs of the key schedule (spec/linking.md §5.2).
type sessionKeys struct {
	th  [HashSize]byte
	e2n [keySize]byte
	n2e [keySize]byte
	sas [keySize]byte
}

func (k *sessionKeys) zero() {
	prim.Zero(k.e2n[:])
	prim.Zero(k.n2e[:])
	prim.Zero(k.sas[:])
}

// transcriptHash is th = SHA-256(LabelTranscript || 0x00 || offer_hash ||
// x_E || ct) (spec/linking.md §5.1).
func transcriptHash(offerHash [HashSize]byte, xE, ct []byte) [HashSize]byte {
	h := sha256.New()
	h.Write([]byte(LabelTranscript))
	h.Write([]byte{0})
	h.Write(offerHash[:])
	h.Write(xE)
	h.Write(ct)
	var th [HashSize]byte
	h.Sum(th[:0])
	return th
}

// deriveKeys runs the key schedule of spec/linking.md §5.2:
// PRK = HKDF-Extract(th, ss_dh || ss_kem), and one HKDF-Expand per key.
// It wipes its copy of the input keying material.
func deriveKeys(ssDH, ssKEM []byte, th [HashSize]byte) *sessionKeys {
	ikm := make([]byte, 0, len(ssDH)+len(ssKEM))
	ikm = append(append(ikm, ssDH...), ssKEM...)
	defer prim.Zero(ikm)
	k := &sessionKeys{th: th}
	for _, d := range []struct {
		dst  []byte
		info string
	}{{k.e2n[:], LabelE2N}, {k.n2e[:], LabelN2E}, {k.sas[:], LabelSAS}} {
		out := prim.HKDF(th[:], ikm, d.info, keySize)
		copy(d.dst, out)
		prim.Zero(out)
	}
	return k
}

// commitment is SHA-256(LabelCommit || 0x00 || r) (spec/linking.md §3.1).
func commitment(r []byte) [HashSize]byte {
	return sha256.Sum256(prim.SignedMessage(LabelCommit, r))
}

// verificationCode is the code of spec/linking.md §6.1: the first 8
// bytes of HMAC-SHA256(k_sas, r_N) as a big-endian integer, modulo 10^6,
// as six decimal digits with a space after the third ("042 917").
func verificationCode(kSAS, rN []byte) string {
	mac := prim.HMAC(kSAS, rN)
	n := binary.BigEndian.Uint64(mac[:8]) % 1_000_000
	prim.Zero(mac[:])
	return fmt.Sprintf("%03d %03d", n/1000, n%1000)
}

// nonce is the 12-byte big-endian encoding of seq (spec/linking.md §7.1).
func nonce(seq uint64) []byte {
	var n [prim.AEADNonceSize]byte
	binary.BigEndian.PutUint64(n[4:], seq)
	return n[:]
}

// ad is th || direction || message type (spec/linking.md §7.1).
func ad(th [HashSize]byte, dir, typ byte) []byte {
	return append(append([]byte(nil), th[:]...), dir, typ)
}

// Responder is N's side of the handshake (spec/linking.md §4.1, §4.3). It
// is not safe for concurrent use.
type Responder struct {
	offer    []byte
	o        Offer
	x        []byte // x_N private
	kemSeed  []byte // d || z of (ek_N, dk_N)
	dk       *mlkem.DecapsulationKey768
	r        [HashSize]byte // r_N
	name     string         // N's name, sent in msg2
	state    state
	accepted [HashSize]byte // SHA-256 of the msg1 accepted
}

// NewResponder makes N's ephemeral keys and offer (spec/linking.md §4.1):
// it reads, in order, x_N's private key (32 bytes), the ML-KEM-768 seed
// d || z (64) and r_N (32) from rnd. relay and linkID name N's link
// mailbox (spec/relay.md §17), device is N's device identity keys, name
// its name (not in the offer: Accept sends it to E inside msg2,
// spec/linking.md §4.3), expires the offer's expiry (N uses now + the
// relay's LinkTTL, at most MaxOfferLifetime). Errors: ErrInvalidName,
// ErrMalformedURI for a relay URL, ErrMalformed for another field out of
// range.
func NewResponder(rnd io.Reader, relay string, linkID [IDSize]byte, device keys.DevicePublicKeys, name string, expires time.Time) (*Responder, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if x := expires.Unix(); x < 1 || x > maxTime {
		return nil, malformed("offer expiry out of range")
	}
	u := URI{Relay: relay, LinkID: linkID, Expires: expires}
	if err := u.check(); err != nil {
		return nil, err
	}
	r := &Responder{o: Offer{Expires: time.Unix(expires.Unix(), 0).UTC(), Relay: relay, LinkID: linkID, Device: device}, name: name}
	var err error
	if r.x, err = prim.NewX25519Key(rnd); err != nil {
		return nil, fmt.Errorf("link: reading randomness: %w", err)
	}
	r.kemSeed = make([]byte, kemSeedSize)
	if _, err := io.ReadFull(rnd, r.kemSeed); err != nil {
		r.Destroy()
		return nil, fmt.Errorf("link: reading randomness: %w", err)
	}
	if _, err := io.ReadFull(rnd, r.r[:]); err != nil {
		r.Destroy()
		return nil, fmt.Errorf("link: reading randomness: %w", err)
	}
	if r.dk, err = mlkem.NewDecapsulationKey768(r.kemSeed); err != nil {
		r.Destroy()
		return nil, fmt.Errorf("link: %w", err)
	}
	copy(r.o.KEM[:], r.dk.EncapsulationKey().Bytes())
	if r.o.DH, err = prim.X25519Public(r.x); err != nil {
		r.Destroy()
		return nil, fmt.Errorf("link: %w", err)
	}
	r.o.Commit = commitment(r.r[:])
	if r.offer, err = r.o.Marshal(); err != nil {
		r.Destroy()
		return nil, err
	}
	return r, nil
}

// Offer returns a copy of the offer's encoding, to store in the link
// mailbox.
func (r *Responder) Offer() []byte { return append([]byte(nil), r.offer...) }

// URI returns the URI to show (spec/linking.md §2).
func (r *Responder) URI() *URI {
	return &URI{Relay: r.o.Relay, LinkID: r.o.LinkID, OfferHash: OfferHash(r.offer), Expires: r.o.Expires}
}

// Accept processes msg1 (spec/linking.md §4.3). On success it returns the
// channel, E's reply link id (where msg2 goes), msg2 (r_N and N's name,
// zero-padded and sealed to E: Msg2Size bytes whatever the name), and
// the code to show. Any error leaves the Responder as it was, waiting
// for another msg1: ErrMalformed, ErrDecrypt (not for this offer). Once a msg1 is accepted, the same msg1 again gives
// ErrDuplicate and any other ErrWrongState.
func (r *Responder) Accept(msg1 []byte) (ch *Channel, replyID [IDSize]byte, msg2 []byte, code string, err error) {
	switch r.state {
	case stateDone:
		if h := sha256.Sum256(msg1); h == r.accepted {
			return nil, replyID, nil, "", ErrDuplicate
		}
		return nil, replyID, nil, "", fmt.Errorf("%w: a msg1 was already accepted", ErrWrongState)
	case stateDestroyed:
		return nil, replyID, nil, "", fmt.Errorf("%w: destroyed", ErrWrongState)
	}
	if len(msg1) != Msg1Size || msg1[0] != typeMsg1 {
		return nil, replyID, nil, "", malformed("msg1 of %d bytes", len(msg1))
	}
	xE := msg1[1:33]
	ct := msg1[33 : 33+kemCiphertextSize]
	sealed := msg1[33+kemCiphertextSize:]
	ssDH, err := prim.DH(r.x, xE)
	if err != nil {
		return nil, replyID, nil, "", malformed("msg1 X25519 key: %v", err)
	}
	defer prim.Zero(ssDH)
	ssKEM, err := r.dk.Decapsulate(ct)
	if err != nil { // only for a wrong length, checked above
		return nil, replyID, nil, "", malformed("msg1 ciphertext: %v", err)
	}
	defer prim.Zero(ssKEM)
	k := deriveKeys(ssDH, ssKEM, transcriptHash(OfferHash(r.offer), xE, ct))
	defer k.zero()
	body, err := prim.AEADOpen(nil, k.e2n[:], nonce(0), sealed, ad(k.th, dirE2N, typeMsg1))
	if err != nil {
		return nil, replyID, nil, "", ErrDecrypt
	}
	copy(replyID[:], body)
	if replyID == r.o.LinkID {
		return nil, [IDSize]byte{}, nil, "", malformed("reply link id is the offer's")
	}
	// msg2 = 0x02 || AEAD(k_n2e, nonce(0), th || 0x02 || 0x02,
	// r_N || u8(len(name)) || name || zeros to 64 name bytes): always
	// Msg2Size bytes, so its size tells nothing of the name
	// (spec/linking.md §4.3 step 6). NewResponder checked the name is
	// 1..MaxNameLen bytes.
	pt := make([]byte, msg2PlaintextSize)
	copy(pt, r.r[:])
	pt[HashSize] = byte(len(r.name))
	copy(pt[HashSize+1:], r.name)
	msg2 = make([]byte, 1, Msg2Size)
	msg2[0] = typeMsg2
	msg2 = prim.AEADSeal(msg2, k.n2e[:], nonce(0), pt, ad(k.th, dirN2E, typeMsg2))
	prim.Zero(pt[:HashSize])
	code = verificationCode(k.sas[:], r.r[:])
	ch = newChannel(roleN, k)
	r.accepted = sha256.Sum256(msg1)
	r.state = stateDone
	r.wipe()
	return ch, replyID, msg2, code, nil
}

// wipe zeroes the Responder's secrets (best effort: crypto/mlkem's
// decapsulation key cannot be wiped, only dropped; SECURITY.md "Known
// limits").
func (r *Responder) wipe() {
	prim.Zero(r.x)
	prim.Zero(r.kemSeed)
	prim.Zero(r.r[:])
	r.x, r.kemSeed, r.dk = nil, nil, nil
}

// Destroy zeroes the Responder's secrets; it refuses every later step.
func (r *Responder) Destroy() {
	r.wipe()
	r.state = stateDestroyed
}

// Initiator is E's side of the handshake (spec/linking.md §4.2, §4.4). It
// is not safe for concurrent use.
type Initiator struct {
	offer    *Offer
	keys     *sessionKeys
	name     string // N's name, from the msg2 accepted
	state    state
	finished [HashSize]byte // SHA-256 of the msg2 accepted
}

// Initiate checks the offer against the URI and now, and makes msg1
// (spec/linking.md §4.2): it reads, in order, x_E's private key (32
// bytes) and the ML-KEM-768 encapsulation randomness m (32) from rnd
// (prim.Encapsulate768: with crypto/rand.Reader, crypto/mlkem draws m
// itself). replyID is the link id of E's reply mailbox, where N sends
// msg2 and its records. It returns the parsed offer (N's device keys, to
// certify) and msg1, to send to the URI's link id. N's name is not in
// the offer: it arrives in msg2 (Finish, then Name). Errors: ErrExpired,
// ErrExpiryTooFar, ErrOfferMismatch, ErrUnsupportedVersion, ErrMalformed.
func Initiate(rnd io.Reader, u *URI, offer []byte, replyID [IDSize]byte, now time.Time) (*Initiator, *Offer, []byte, error) {
	if u == nil {
		return nil, nil, nil, malformedURI("no URI")
	}
	if !now.Before(u.Expires) {
		return nil, nil, nil, ErrExpired
	}
	h := OfferHash(offer)
	if h != u.OfferHash {
		return nil, nil, nil, fmt.Errorf("%w: SHA-256 of the offer is not h", ErrOfferMismatch)
	}
	o, err := ParseOffer(offer)
	if err != nil {
		return nil, nil, nil, err
	}
	if o.Relay != u.Relay || o.LinkID != u.LinkID || !o.Expires.Equal(u.Expires) {
		return nil, nil, nil, fmt.Errorf("%w: relay, link id or expiry", ErrOfferMismatch)
	}
	if !now.Before(o.Expires) {
		return nil, nil, nil, ErrExpired
	}
	if o.Expires.Sub(now) > MaxOfferLifetime {
		return nil, nil, nil, ErrExpiryTooFar
	}
	if replyID == o.LinkID {
		return nil, nil, nil, malformed("reply link id is the offer's")
	}
	x, err := prim.NewX25519Key(rnd)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("link: reading randomness: %w", err)
	}
	defer prim.Zero(x)
	xE, err := prim.X25519Public(x)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("link: %w", err)
	}
	ssDH, err := prim.DH(x, o.DH[:])
	if err != nil { // ParseOffer checked x_N: only an all-zero output
		return nil, nil, nil, malformed("offer X25519 key: %v", err)
	}
	defer prim.Zero(ssDH)
	ek, err := mlkem.NewEncapsulationKey768(o.KEM[:])
	if err != nil {
		return nil, nil, nil, malformed("offer ML-KEM-768 key: %v", err)
	}
	ssKEM, ct, err := prim.Encapsulate768(rnd, ek)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("link: reading randomness: %w", err)
	}
	defer prim.Zero(ssKEM)
	k := deriveKeys(ssDH, ssKEM, transcriptHash(h, xE[:], ct))
	msg1 := make([]byte, 0, Msg1Size)
	msg1 = append(msg1, typeMsg1)
	msg1 = append(msg1, xE[:]...)
	msg1 = append(msg1, ct...)
	msg1 = prim.AEADSeal(msg1, k.e2n[:], nonce(0), replyID[:], ad(k.th, dirE2N, typeMsg1))
	shown := *o
	return &Initiator{offer: o, keys: k}, &shown, msg1, nil
}

// Offer returns a copy of the offer Initiate checked.
func (i *Initiator) Offer() *Offer {
	o := *i.offer
	return &o
}

// Finish processes msg2 (spec/linking.md §4.4): it checks r_N against the
// offer's commitment and N's name (its length 1..MaxNameLen, zero
// padding, CheckName), and returns the channel and the code to show;
// Name then returns N's name, to show with the code. Any error leaves the
// Initiator as it was: ErrMalformed (a size other than Msg2Size, or an
// authentic msg2 whose name length is outside 1..MaxNameLen, whose
// padding is not all zero or whose name is outside spec/linking.md §3.3),
// ErrDecrypt, ErrCommitMismatch. Once a msg2 is accepted, the same msg2
// again gives ErrDuplicate and any other ErrWrongState.
func (i *Initiator) Finish(msg2 []byte) (*Channel, string, error) {
	switch i.state {
	case stateDone:
		if h := sha256.Sum256(msg2); h == i.finished {
			return nil, "", ErrDuplicate
		}
		return nil, "", fmt.Errorf("%w: a msg2 was already accepted", ErrWrongState)
	case stateDestroyed:
		return nil, "", fmt.Errorf("%w: destroyed", ErrWrongState)
	}
	if len(msg2) != Msg2Size || msg2[0] != typeMsg2 {
		return nil, "", malformed("msg2 of %d bytes", len(msg2))
	}
	pt, err := prim.AEADOpen(nil, i.keys.n2e[:], nonce(0), msg2[1:], ad(i.keys.th, dirN2E, typeMsg2))
	if err != nil {
		return nil, "", ErrDecrypt
	}
	defer prim.Zero(pt)
	// The size checked above leaves r_N (32), the name's length (1) and
	// MaxNameLen bytes of name and padding (spec/linking.md §4.4).
	rN := pt[:HashSize]
	c := commitment(rN)
	if !prim.Equal(c[:], i.offer.Commit[:]) {
		return nil, "", ErrCommitMismatch
	}
	n := int(pt[HashSize])
	if n < MinNameLen || n > MaxNameLen {
		return nil, "", malformed("msg2 name length %d", n)
	}
	name, pad := pt[HashSize+1:HashSize+1+n], pt[HashSize+1+n:]
	for _, b := range pad {
		if b != 0 {
			return nil, "", malformed("msg2 name padding not zero")
		}
	}
	if err := CheckName(string(name)); err != nil {
		return nil, "", malformed("msg2 name: %v", err)
	}
	code := verificationCode(i.keys.sas[:], rN)
	ch := newChannel(roleE, i.keys)
	i.name = string(name)
	i.finished = sha256.Sum256(msg2)
	i.state = stateDone
	i.keys.zero()
	return ch, code, nil
}

// Name returns the new device's name, which N sent inside msg2
// (spec/linking.md §4.4): valid after Finish succeeded, "" before.
func (i *Initiator) Name() string { return i.name }

// Destroy zeroes the Initiator's secrets; it refuses every later step.
func (i *Initiator) Destroy() {
	if i.keys != nil {
		i.keys.zero()
	}
	i.state = stateDestroyed
}
