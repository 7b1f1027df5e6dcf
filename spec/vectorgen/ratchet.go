package main

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/sealpost/sealpost/crypto/ratchet"
	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/internal/vectors"
	"golang.org/x/crypto/chacha20poly1305"
)

func init() { register("ratchet.json", genRatchet) }

// ratchetStep is one event of a scripted session. Encrypt steps store the
// message under name; decrypt steps take it from there, optionally changed
// by mutate, and must end with err ("" for success).
type ratchetStep struct {
	party   string // "initiator" or "responder"
	op      string // "encrypt" or "decrypt"
	name    string
	comment string
	mutate  func([]byte) []byte
	err     string
	count   uint32 // advance only
}

func enc(party, name, comment string) ratchetStep {
	return ratchetStep{party: party, op: "encrypt", name: name, comment: comment}
}

func dec(party, name, comment string) ratchetStep {
	return ratchetStep{party: party, op: "decrypt", name: name, comment: comment}
}

func decErr(party, name, comment, err string, mutate func([]byte) []byte) ratchetStep {
	return ratchetStep{party: party, op: "decrypt", name: name, comment: comment, mutate: mutate, err: err}
}

// advance encrypts count messages of a continuing chain and discards them.
func advance(party string, count uint32, comment string) ratchetStep {
	return ratchetStep{party: party, op: "advance", count: count, comment: comment}
}

const (
	ini = "initiator"
	res = "responder"
)

type ratchetScript struct {
	id, comment string
	steps       []ratchetStep
}

func ratchetScripts() []ratchetScript {
	// Offsets in a message without an initial message (spec/ratchet.md §4.1).
	setN := func(n uint32) func([]byte) []byte {
		return func(m []byte) []byte { binary.BigEndian.PutUint32(m[38:], n); return m }
	}
	setPN := func(n uint32) func([]byte) []byte {
		return func(m []byte) []byte { binary.BigEndian.PutUint32(m[34:], n); return m }
	}
	setInitialLen := func(n uint16) func([]byte) []byte {
		return func(m []byte) []byte { binary.BigEndian.PutUint16(m[2:], n); return m }
	}
	return []ratchetScript{
		{id: "session", comment: "both directions, a DH ratchet step each way, the initial message attached until the first reply decrypts, and a replay", steps: []ratchetStep{
			enc(ini, "a0", "first message: carries the initial message, first sending chain from NewInitiator"),
			enc(ini, "a1", "same chain, still carries the initial message"),
			dec(res, "a0", "responder's first message: receiving half of a DH ratchet step with its signed prekey"),
			dec(res, "a1", "same chain"),
			enc(res, "b0", "new ratchet key pair: sending half of a DH ratchet step"),
			enc(res, "b1", "same chain"),
			dec(ini, "b0", "new ratchet key: DH ratchet step; the initiator stops attaching the initial message"),
			enc(ini, "a2", "new ratchet key pair, no initial message"),
			dec(res, "a2", "DH ratchet step"),
			decErr(res, "a2", "replay of the last message of the current chain", "old_message", nil),
			dec(ini, "b1", "the responder's chain is still the initiator's current receiving chain"),
		}},
		{id: "out-of-order", comment: "messages delivered out of order within one chain and across a DH ratchet step (skipped keys found through PN)", steps: []ratchetStep{
			enc(ini, "a0", ""), enc(ini, "a1", ""), enc(ini, "a2", ""), enc(ini, "a3", ""), enc(ini, "a4", ""),
			dec(res, "a3", "skips a0, a1, a2: three keys stored"),
			dec(res, "a1", "from the skipped key store"),
			enc(res, "b0", ""),
			dec(ini, "b0", ""),
			enc(ini, "c0", "new chain, PN = 5"),
			dec(res, "c0", "DH ratchet step; PN = 5 skips a4 of the previous chain first"),
			dec(res, "a4", "from the skipped key store, previous chain"),
			dec(res, "a0", "from the skipped key store, oldest entry"),
			decErr(res, "a1", "replay of a message already taken from the store: its chain is no longer current and its key is gone", "decrypt", nil),
			dec(res, "a2", "last skipped key: the store is empty again"),
		}},
		{id: "ping-pong", comment: "strictly alternating messages: every message starts a new chain", steps: []ratchetStep{
			enc(ini, "m0", ""), dec(res, "m0", ""),
			enc(res, "m1", ""), dec(ini, "m1", ""),
			enc(ini, "m2", ""), dec(res, "m2", ""),
			enc(res, "m3", ""), dec(ini, "m3", ""),
			enc(ini, "m4", ""), dec(res, "m4", ""),
		}},
		{id: "refused", comment: "messages the receiver must refuse, each leaving its state unchanged", steps: []ratchetStep{
			enc(ini, "a0", ""),
			decErr(res, "a0", "tag bit flipped", "decrypt", func(m []byte) []byte { m[len(m)-1] ^= 0x01; return m }),
			decErr(res, "a0", "initial message bit flipped", "decrypt", func(m []byte) []byte { m[4] ^= 0x01; return m }),
			decErr(res, "a0", "version 0x02", "malformed", func(m []byte) []byte { m[0] = 0x02; return m }),
			decErr(res, "a0", "unknown flag bit 0x02", "malformed", func(m []byte) []byte { m[1] |= 0x02; return m }),
			decErr(res, "a0", "truncated inside the tag", "malformed", func(m []byte) []byte { return m[:len(m)-(len(m)-ratchetHeaderLen(m))+15] }),
			dec(res, "a0", "the original still decrypts"),
			decErr(res, "a0", "replay", "old_message", nil),
			enc(res, "b0", ""),
			dec(ini, "b0", ""),
			enc(ini, "c0", "no initial message from here on"),
			decErr(res, "c0", "ratchet public key replaced by u = 1, a low-order point", "malformed", func(m []byte) []byte { clear(m[2:34]); m[2] = 1; return m }),
			decErr(res, "c0", "ratchet public key with bit 255 set", "malformed", func(m []byte) []byte { m[33] |= 0x80; return m }),
			decErr(res, "c0", "N = 2^32-1, never sent", "malformed", setN(1<<32-1)),
			decErr(res, "c0", "N = 1001: would skip 1001 keys of a new chain (checked before authentication)", "too_many_skipped", setN(1001)),
			decErr(res, "c0", "N = 1000: within the bound, but the header no longer authenticates", "decrypt", setN(1000)),
			decErr(res, "c0", "trailing byte", "decrypt", func(m []byte) []byte { return append(m, 0) }),
			dec(res, "c0", "the original still decrypts"),
			decErr(res, "c0", "N = 1002 on the current chain (Nr = 1): would skip 1001 keys (checked before authentication)", "too_many_skipped", setN(1002)),
			decErr(res, "c0", "N = 1001 on the current chain: skips exactly 1000, within the bound, but the header no longer authenticates", "decrypt", setN(1001)),
			enc(ini, "c1", ""), enc(ini, "c2", ""),
			dec(res, "c2", "skips c1: one key stored"),
			dec(res, "c1", "from the skipped key store"),
			decErr(res, "c1", "out of window: N < Nr on the current chain and its key no longer stored (already used)", "old_message", nil),
			decErr(res, "c0", "out of window: the first message of the current chain again", "old_message", nil),
			enc(res, "d0", ""),
			dec(ini, "d0", ""),
			enc(ini, "e0", "new chain, PN = 3"),
			decErr(res, "e0", "PN = 1004 (Nr = 3): would skip 1001 keys of the previous chain (checked before authentication)", "too_many_skipped", setPN(1004)),
			decErr(res, "e0", "PN = 1003: skips exactly 1000, within the bound, but the header no longer authenticates", "decrypt", setPN(1003)),
			decErr(res, "e0", "N = 2^32-2 on a new chain: far beyond the bound", "too_many_skipped", setN(1<<32-2)),
			dec(res, "e0", "the original still decrypts"),
		}},
		{id: "bad-header", comment: "malformed headers of a message that carries the initial message, each refused before any key is used, the state unchanged", steps: []ratchetStep{
			enc(ini, "a0", "carries the 96-byte initial message"),
			decErr(res, "a0", "empty message", "malformed", func(m []byte) []byte { return nil }),
			decErr(res, "a0", "version byte only", "malformed", func(m []byte) []byte { return m[:1] }),
			decErr(res, "a0", "version 0x00", "malformed", func(m []byte) []byte { m[0] = 0; return m }),
			decErr(res, "a0", "flag bit 0x80", "malformed", func(m []byte) []byte { m[1] |= 0x80; return m }),
			decErr(res, "a0", "initial message length 0", "malformed", setInitialLen(0)),
			decErr(res, "a0", "initial message length 16385, above the bound", "malformed", setInitialLen(16385)),
			decErr(res, "a0", "initial message length 16384: within the bound, longer than the message", "malformed", setInitialLen(16384)),
			decErr(res, "a0", "initial message length such that no room is left for the ratchet key, PN, N and tag", "malformed",
				func(m []byte) []byte { return setInitialLen(uint16(len(m) - 4 - 40 - 16 + 1))(m) }),
			decErr(res, "a0", "ratchet public key u = 0 (low order)", "malformed", func(m []byte) []byte { clear(m[100:132]); return m }),
			decErr(res, "a0", "ratchet public key u = p (not reduced)", "malformed", func(m []byte) []byte {
				copy(m[100:132], unhex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"))
				return m
			}),
			decErr(res, "a0", "header complete, ciphertext one byte shorter than the tag", "malformed", func(m []byte) []byte { return m[:140+15] }),
			decErr(res, "a0", "header complete, empty ciphertext", "malformed", func(m []byte) []byte { return m[:140] }),
			dec(res, "a0", "the original still decrypts"),
		}},
		{id: "skipped-eviction", comment: "the skipped key store at its bound of 2000 keys: one more evicts the oldest entry first (spec/ratchet.md §7.3); states past 4096 bytes are given as SHA-256 digests", steps: []ratchetStep{
			enc(ini, "a0", "N = 0"),
			advance(ini, 998, "N = 1 to 998, discarded"),
			enc(ini, "a999", ""),
			enc(ini, "a1000", ""),
			dec(res, "a1000", "skips a0 to a999: 1000 keys stored, exactly the per-chain bound"),
			enc(res, "b0", ""),
			dec(ini, "b0", ""),
			enc(ini, "c0", "new chain, PN = 1001"),
			advance(ini, 998, "N = 1 to 998, discarded"),
			enc(ini, "c999", ""),
			enc(ini, "c1000", ""),
			dec(res, "c1000", "DH ratchet step; skips c0 to c999: 2000 keys stored, the store is full"),
			enc(res, "d0", ""),
			dec(ini, "d0", ""),
			enc(ini, "e0", "new chain, PN = 1001"),
			enc(ini, "e1", ""),
			dec(res, "e1", "DH ratchet step; skips e0: 2001 keys, so the oldest, a0's, is evicted"),
			decErr(res, "a0", "its key was evicted first; its chain is not current", "decrypt", nil),
			dec(res, "a999", "the rest of the oldest chain is still stored"),
			dec(res, "c0", "from the store"),
			dec(res, "e0", "from the store"),
			decErr(res, "e0", "replay of a key taken from the store, current chain: out of window", "old_message", nil),
		}},
	}
}

// ratchetHeaderLen returns the header length of a well-formed message.
func ratchetHeaderLen(m []byte) int {
	if m[1]&1 == 0 {
		return ratchet.HeaderSize
	}
	return ratchet.HeaderSize + 2 + int(binary.BigEndian.Uint16(m[2:]))
}

func genRatchet() (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("ratchet: %v", r)
		}
	}()
	var cases []vectors.RatchetCase
	for _, s := range ratchetScripts() {
		cases = append(cases, ratchetCase(s))
	}
	return encode(&vectors.File[vectors.RatchetCase]{
		Description: "Sealpost Double Ratchet sessions. Each case starts both sides from the recorded inputs and applies " +
			"the events in order; state is the acting party's marshalled state after each event (state_sha256 its SHA-256 when it is " +
			"longer than 4096 bytes); advance encrypts count messages and discards them. Encrypt events record " +
			"the randomness read and every intermediate key.",
		Spec:  "spec/ratchet.md",
		Cases: cases,
	})
}

// recorder records what is read through it.
type recorder struct {
	r   io.Reader
	got []byte
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.got = append(r.got, p[:n]...)
	return n, err
}

func ratchetCase(s ratchetScript) vectors.RatchetCase {
	rnd := testrand.New("ratchet vectors " + s.id)
	v := vectors.RatchetCase{
		ID:                      s.id,
		Comment:                 s.comment,
		SharedSecret:            read32(rnd),
		ResponderRatchetPrivate: read32(rnd),
		AD:                      make([]byte, 128),
		Initial:                 make([]byte, 96),
	}
	sealCheck(io.ReadFull(rnd, v.AD))
	sealCheck(io.ReadFull(rnd, v.Initial))
	bobKey := sealCheck(ecdh.X25519().NewPrivateKey(v.ResponderRatchetPrivate))
	v.ResponderRatchetPublic = bobKey.PublicKey().Bytes()

	rec := &recorder{r: rnd}
	a := sealCheck(ratchet.NewInitiator(rec, [32]byte(v.SharedSecret), v.AD, [32]byte(v.ResponderRatchetPublic), v.Initial))
	v.InitiatorRandom = rec.got
	b := sealCheck(ratchet.NewResponder([32]byte(v.SharedSecret), v.AD, [32]byte(v.ResponderRatchetPrivate)))
	v.InitiatorState, v.ResponderState = a.Marshal(), b.Marshal()

	msgs := map[string][]byte{}
	pts := map[string][]byte{}
	for i, st := range s.steps {
		self := a
		if st.party == res {
			self = b
		}
		e := vectors.RatchetEvent{Party: st.party, Op: st.op, Comment: st.comment}
		before := self.Marshal()
		switch st.op {
		case "encrypt":
			if _, dup := msgs[st.name]; dup {
				panic("duplicate message name " + st.name)
			}
			e.Plaintext = []byte(fmt.Sprintf("%s says %s (%s, event %d)", st.party, st.name, s.id, i))
			rec := &recorder{r: rnd}
			e.Message = sealCheck(self.Encrypt(rec, e.Plaintext))
			e.Random = rec.got
			ratchetIntermediates(&e, before, v.AD)
			msgs[st.name], pts[st.name] = e.Message, e.Plaintext
		case "advance":
			if before[1]&0x04 == 0 {
				panic("advance on a chain that has not started")
			}
			e.Count = st.count
			for range st.count {
				sealCheck(self.Encrypt(bytes.NewReader(nil), nil))
			}
		case "decrypt":
			m := bytes.Clone(msgs[st.name])
			if m == nil {
				panic("unknown message " + st.name)
			}
			if st.mutate != nil {
				m = st.mutate(m)
			}
			e.Message = m
			pt, err := self.Decrypt(m)
			e.Error = ratchetErrorName(err)
			if e.Error != st.err {
				panic(fmt.Sprintf("%s event %d: Decrypt error %q (%v), script says %q", s.id, i, e.Error, err, st.err))
			}
			if err == nil {
				if !bytes.Equal(pt, pts[st.name]) {
					panic(fmt.Sprintf("%s event %d: wrong plaintext", s.id, i))
				}
				e.Plaintext = pt
			}
		}
		e.State = self.Marshal()
		if e.Error != "" && !bytes.Equal(e.State, before) {
			panic(fmt.Sprintf("%s event %d: refused message changed the state", s.id, i))
		}
		if len(e.State) > ratchetMaxInlineState {
			d := sha256.Sum256(e.State)
			e.State, e.StateSHA256 = nil, d[:]
		}
		v.Events = append(v.Events, e)
	}
	return v
}

// ratchetMaxInlineState is the largest state an event records whole;
// larger ones (a full skipped key store) are recorded as their SHA-256.
const ratchetMaxInlineState = 4096

func ratchetErrorName(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ratchet.ErrMalformed):
		return "malformed"
	case errors.Is(err, ratchet.ErrDecrypt):
		return "decrypt"
	case errors.Is(err, ratchet.ErrOldMessage):
		return "old_message"
	case errors.Is(err, ratchet.ErrTooManySkipped):
		return "too_many_skipped"
	}
	panic(err)
}

// ratchetIntermediates recomputes the keys of an encrypt event from the
// sender's marshalled state before it, independently of crypto/ratchet
// (spec/ratchet.md §3, §6, §8.1), and checks the message against them.
func ratchetIntermediates(e *vectors.RatchetEvent, before, ad []byte) {
	const (
		oFlags, oRK, oDHr, oCKs = 1, 2, 66, 98
		flagCKs                 = 0x04
	)
	var ck []byte
	if before[oFlags]&flagCKs == 0 {
		priv := sealCheck(ecdh.X25519().NewPrivateKey(e.Random))
		pub := sealCheck(ecdh.X25519().NewPublicKey(before[oDHr : oDHr+32]))
		e.DH = sealCheck(priv.ECDH(pub))
		okm := sealCheck(hkdf.Key(sha256.New, e.DH, before[oRK:oRK+32], "sealpost/v1/ratchet-root", 64))
		ck = okm[32:]
		hl := ratchetHeaderLen(e.Message)
		if !bytes.Equal(e.Message[hl-40:hl-8], priv.PublicKey().Bytes()) {
			panic("header does not carry the new ratchet public key")
		}
	} else {
		if len(e.Random) != 0 {
			panic("Encrypt read randomness on a continuing chain")
		}
		ck = before[oCKs : oCKs+32]
	}
	e.ChainKey = bytes.Clone(ck)
	mac := hmac.New(sha256.New, ck)
	mac.Write([]byte{0x01})
	e.MessageKey = mac.Sum(nil)
	okm := sealCheck(hkdf.Key(sha256.New, e.MessageKey, make([]byte, 32), "sealpost/v1/ratchet-message", 44))
	e.AEADKey, e.AEADNonce = okm[:32], okm[32:]

	hl := ratchetHeaderLen(e.Message)
	aead := sealCheck(chacha20poly1305.New(e.AEADKey))
	want := aead.Seal(nil, e.AEADNonce, e.Plaintext, append(bytes.Clone(ad), e.Message[:hl]...))
	if !bytes.Equal(want, e.Message[hl:]) {
		panic("message ciphertext differs from an independent computation")
	}
}
