package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/sealpost/sealpost/crypto/senderkey"
	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/internal/vectors"
	"golang.org/x/crypto/chacha20poly1305"
)

func init() { register("senderkey.json", genSenderKey) }

// skStep is one event of a scripted sender-key case. encrypt stores the
// message under name; decrypt takes it from there, changed by mutate, and
// must end with err. resign re-signs the changed message with the chain's
// signing key, so that only the check under test refuses it.
type skStep struct {
	op       string
	name     string // message name
	receiver string
	comment  string
	mutate   func([]byte) []byte
	resign   bool
	err      string
	count    uint32
	dist     func([]byte) []byte // parse_distribution: changes the current distribution
}

func skEnc(name, pt string) skStep { return skStep{op: "encrypt", name: name, comment: pt} }
func skDec(rcv, name, comment string) skStep {
	return skStep{op: "decrypt", receiver: rcv, name: name, comment: comment}
}
func skDecErr(rcv, name, comment, err string, resign bool, mutate func([]byte) []byte) skStep {
	return skStep{op: "decrypt", receiver: rcv, name: name, comment: comment, err: err, resign: resign, mutate: mutate}
}
func skDistribute(rcv, comment string) skStep {
	return skStep{op: "distribute", receiver: rcv, comment: comment}
}

type skScript struct {
	id, comment string
	steps       []skStep
}

func skScripts() []skScript {
	setIt := func(n uint32) func([]byte) []byte {
		return func(m []byte) []byte { binary.BigEndian.PutUint32(m[49:], n); return m }
	}
	flip := func(i int) func([]byte) []byte {
		return func(m []byte) []byte {
			if i < 0 {
				i += len(m)
			}
			m[i] ^= 0x01
			return m
		}
	}
	return []skScript{
		{id: "in-order", comment: "a distribution at iteration 0, three messages decrypted in order", steps: []skStep{
			skDistribute("r", "receiver from iteration 0"),
			skEnc("m0", "hello group"), skEnc("m1", ""), skEnc("m2", "third"),
			skDec("r", "m0", ""), skDec("r", "m1", "empty plaintext"), skDec("r", "m2", ""),
		}},
		{id: "out-of-order", comment: "skipped keys stored, used in any order, erased after use", steps: []skStep{
			skDistribute("r", ""),
			skEnc("m0", "0"), skEnc("m1", "1"), skEnc("m2", "2"), skEnc("m3", "3"), skEnc("m4", "4"),
			skDec("r", "m3", "skips 0, 1, 2: three keys stored"),
			skDec("r", "m0", "from the skipped keys"),
			skDec("r", "m4", "next on the chain"),
			skDec("r", "m2", "from the skipped keys"),
			skDecErr("r", "m3", "replay of a message decrypted on the chain", "old_message", false, nil),
			skDecErr("r", "m0", "replay of a message decrypted from a skipped key", "old_message", false, nil),
			skDec("r", "m1", "last skipped key: none left"),
		}},
		{id: "late-distribution", comment: "a receiver made from a distribution at iteration 3 reads nothing before it", steps: []skStep{
			skEnc("m0", "0"), skEnc("m1", "1"), skEnc("m2", "2"),
			skDistribute("r", "receiver from iteration 3"),
			skDecErr("r", "m1", "before the distribution", "old_message", false, nil),
			skEnc("m3", "3"),
			skDec("r", "m3", ""),
		}},
		{id: "refused", comment: "messages the receiver must refuse, each leaving its state unchanged", steps: []skStep{
			skDistribute("r", ""),
			skEnc("m0", "zero"), skEnc("m1", "one"),
			skDec("r", "m1", "m0's key is skipped"),
			skDecErr("r", "m0", "signature bit flipped", "bad_signature", false, flip(-1)),
			skDecErr("r", "m0", "ciphertext bit flipped", "bad_signature", false, flip(senderkey.HeaderSize)),
			skDecErr("r", "m0", "iteration changed to 1 (not re-signed)", "bad_signature", false, setIt(1)),
			skDecErr("r", "m0", "ciphertext bit flipped and re-signed by the owner", "decrypt", true, flip(senderkey.HeaderSize)),
			skDecErr("r", "m0", "iteration changed to 1 and re-signed: its key was used", "old_message", true, setIt(1)),
			skDecErr("r", "m0", "group id changed", "unknown_chain", false, flip(1)),
			skDecErr("r", "m0", "chain id changed", "unknown_chain", false, flip(33)),
			skDecErr("r", "m0", "version 0x02", "malformed", false, func(m []byte) []byte { m[0] = 2; return m }),
			skDecErr("r", "m0", "iteration 2^32-1, re-signed", "malformed", true, setIt(1<<32-1)),
			skDecErr("r", "m0", "shorter than 133 bytes", "malformed", false, func(m []byte) []byte { return m[:senderkey.MinMessageSize-1] }),
			skDecErr("r", "m0", "trailing byte", "bad_signature", false, func(m []byte) []byte { return append(m, 0) }),
			skDecErr("r", "m1", "replay", "old_message", false, nil),
			{op: "advance", count: 2000, comment: "iterations 2 to 2001 sent and lost"},
			skEnc("at", "exactly at the bound"),
			skEnc("past", "one past the bound"),
			skDecErr("r", "past", "iteration 2003 with the chain at 2: skips 2001", "too_many_skipped", false, nil),
			skDecErr("r", "past", "iteration 2^32-2 re-signed: far beyond the bound", "too_many_skipped", true, setIt(1<<32-2)),
			skDec("r", "at", "skips exactly 2000 keys: with m0's, 2001 stored, so m0's, the oldest, is discarded"),
			skDecErr("r", "m0", "its key was discarded", "old_message", false, nil),
			skDec("r", "past", "next on the chain"),
		}},
		{id: "distribution", comment: "distributions a receiver must refuse", steps: []skStep{
			skEnc("m0", "x"),
			skDistribute("r", "at iteration 1"),
			{op: "parse_distribution", comment: "as written", dist: func(d []byte) []byte { return d }},
			{op: "parse_distribution", comment: "truncated", err: "malformed", dist: func(d []byte) []byte { return d[:len(d)-1] }},
			{op: "parse_distribution", comment: "trailing byte", err: "malformed", dist: func(d []byte) []byte { return append(d, 0) }},
			{op: "parse_distribution", comment: "version 0x02", err: "malformed", dist: func(d []byte) []byte { d[0] = 2; return d }},
			{op: "parse_distribution", comment: "iteration 2^32-1", err: "malformed", dist: func(d []byte) []byte { binary.BigEndian.PutUint32(d[49:], 1<<32-1); return d }},
			{op: "parse_distribution", comment: "signing key the identity point (low order)", err: "malformed", dist: func(d []byte) []byte { clear(d[85:]); d[85] = 1; return d }},
			{op: "parse_distribution", comment: "signing key with y = p (non-canonical)", err: "malformed", dist: func(d []byte) []byte {
				d[85] = 0xed
				for i := 86; i < 116; i++ {
					d[i] = 0xff
				}
				d[116] = 0x7f
				return d
			}},
		}},
	}
}

func genSenderKey() (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("senderkey: %v", r)
		}
	}()
	var cases []vectors.SenderKeyCase
	for _, s := range skScripts() {
		cases = append(cases, skCase(s))
	}
	return encode(&vectors.File[vectors.SenderKeyCase]{
		Description: "Sealpost sender keys. Each case starts a sending chain from group_id and the 80 bytes random, then applies " +
			"the events in order; state is the acting chain's marshalled state after each event (state_sha256 its SHA-256 " +
			"when longer than 4096 bytes). Encrypt events record every intermediate key.",
		Spec:  "spec/senderkey.md",
		Cases: cases,
	})
}

func skCase(sc skScript) vectors.SenderKeyCase {
	rnd := make([]byte, 80)
	testrand.New("senderkey " + sc.id).Read(rnd)
	var group senderkey.GroupID
	testrand.New("senderkey group " + sc.id).Read(group[:])
	s, err := senderkey.NewSendingChain(bytes.NewReader(rnd), group)
	if err != nil {
		panic(err)
	}
	// The reference chain, from §4.4.
	ref := skRef{group: group, ck: [32]byte(rnd[16:48]), priv: ed25519.NewKeyFromSeed(rnd[48:80])}
	copy(ref.chain[:], rnd[:16])
	c := vectors.SenderKeyCase{
		ID: sc.id, Comment: sc.comment, GroupID: group[:], Random: rnd,
		SigningPublic: []byte(ref.priv.Public().(ed25519.PublicKey)), SendingState: s.Marshal(),
	}
	msgs := map[string][]byte{}
	rcv := map[string]*senderkey.ReceivingChain{}
	var dist []byte
	for _, st := range sc.steps {
		e := vectors.SenderKeyEvent{Op: st.op, Comment: st.comment, Receiver: st.receiver, Error: st.err}
		switch st.op {
		case "encrypt":
			pt := []byte(st.comment)
			e.Comment = ""
			ck, mk, key, nonce, want := ref.encrypt(pt)
			m, err := s.Encrypt(pt)
			if err != nil || !bytes.Equal(m, want) {
				panic(fmt.Sprintf("%s %s: crypto/senderkey's message differs from the reference (%v)", sc.id, st.name, err))
			}
			e.Plaintext, e.Message, e.ChainKey, e.MessageKey, e.AEADKey, e.AEADNonce = pt, m, ck, mk, key, nonce
			msgs[st.name] = m
			setSKState(&e, s.Marshal())
		case "advance":
			e.Count = st.count
			for range st.count {
				ref.encrypt(nil)
				if _, err := s.Encrypt(nil); err != nil {
					panic(err)
				}
			}
			setSKState(&e, s.Marshal())
		case "distribute":
			dist = s.Distribution().Marshal()
			want := ref.distribution()
			if !bytes.Equal(dist, want) {
				panic(sc.id + ": distribution differs from the reference")
			}
			d, err := senderkey.ParseDistribution(dist)
			if err != nil {
				panic(err)
			}
			r, err := senderkey.NewReceivingChain(d)
			if err != nil {
				panic(err)
			}
			rcv[st.receiver] = r
			e.Distribution = dist
			setSKState(&e, r.Marshal())
		case "parse_distribution":
			in := st.dist(bytes.Clone(dist))
			e.Distribution = in
			_, err := senderkey.ParseDistribution(in)
			if got := skErrName(err); got != st.err {
				panic(fmt.Sprintf("%s %q: ParseDistribution = %v, want %q", sc.id, st.comment, err, st.err))
			}
		case "decrypt":
			r := rcv[st.receiver]
			m := bytes.Clone(msgs[st.name])
			if st.mutate != nil {
				m = st.mutate(m)
			}
			if st.resign {
				body := m[:len(m)-64]
				copy(m[len(m)-64:], ed25519.Sign(ref.priv, append([]byte(senderkey.LabelSignature+"\x00"), body...)))
			}
			e.Message = m
			before := r.Marshal()
			pt, err := r.Decrypt(m)
			if got := skErrName(err); got != st.err {
				panic(fmt.Sprintf("%s %q: Decrypt = %v, want %q", sc.id, st.comment, err, st.err))
			}
			if err != nil && !bytes.Equal(before, r.Marshal()) {
				panic(sc.id + ": a refusal changed the state")
			}
			e.Plaintext = pt
			setSKState(&e, r.Marshal())
		default:
			panic("unknown op " + st.op)
		}
		c.Events = append(c.Events, e)
	}
	return c
}

func setSKState(e *vectors.SenderKeyEvent, st []byte) {
	if len(st) > 4096 {
		h := sha256.Sum256(st)
		e.StateSHA256 = h[:]
		return
	}
	e.State = st
}

func skErrName(err error) string {
	for name, want := range map[string]error{
		"malformed": senderkey.ErrMalformed, "unknown_chain": senderkey.ErrUnknownChain,
		"bad_signature": senderkey.ErrBadSignature, "decrypt": senderkey.ErrDecrypt,
		"old_message": senderkey.ErrOldMessage, "too_many_skipped": senderkey.ErrTooManySkipped,
	} {
		if errors.Is(err, want) {
			return name
		}
	}
	if err != nil {
		return "unexpected: " + err.Error()
	}
	return ""
}

// skRef is a sending chain computed from spec/senderkey.md §3-§5 with the
// standard library only.
type skRef struct {
	group     senderkey.GroupID
	chain     [16]byte
	iteration uint32
	ck        [32]byte
	priv      ed25519.PrivateKey
}

func refHMAC(k []byte, b byte) []byte {
	m := hmac.New(sha256.New, k)
	m.Write([]byte{b})
	return m.Sum(nil)
}

func (r *skRef) encrypt(pt []byte) (ck, mk, key, nonce, msg []byte) {
	ck = bytes.Clone(r.ck[:])
	mk = refHMAC(ck, 0x01)
	next := refHMAC(ck, 0x02)
	okm := make([]byte, 44)
	kdf := hkdfReader(mk, "sealpost/v1/senderkey-message")
	if _, err := io.ReadFull(kdf, okm); err != nil {
		panic(err)
	}
	key, nonce = okm[:32], okm[32:]
	hdr := []byte{0x01}
	hdr = append(hdr, r.group[:]...)
	hdr = append(hdr, r.chain[:]...)
	hdr = binary.BigEndian.AppendUint32(hdr, r.iteration)
	pub := r.priv.Public().(ed25519.PublicKey)
	a, err := chacha20poly1305.New(key)
	if err != nil {
		panic(err)
	}
	msg = a.Seal(bytes.Clone(hdr), nonce, pt, append(bytes.Clone(hdr), pub...))
	sig := ed25519.Sign(r.priv, append([]byte("sealpost/v1/senderkey-signature\x00"), msg...))
	msg = append(msg, sig...)
	copy(r.ck[:], next)
	r.iteration++
	return ck, mk, key, nonce, msg
}

func (r *skRef) distribution() []byte {
	d := []byte{0x01}
	d = append(d, r.group[:]...)
	d = append(d, r.chain[:]...)
	d = binary.BigEndian.AppendUint32(d, r.iteration)
	d = append(d, r.ck[:]...)
	return append(d, r.priv.Public().(ed25519.PublicKey)...)
}

// hkdfReader returns HKDF-SHA256 output with 32 zero bytes of salt.
func hkdfReader(ikm []byte, info string) io.Reader {
	out, err := hkdf.Key(sha256.New, ikm, make([]byte, 32), info, 44)
	if err != nil {
		panic(err)
	}
	return bytes.NewReader(out)
}
