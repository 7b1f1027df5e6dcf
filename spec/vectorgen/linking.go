package main

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/mlkem"
	"crypto/mlkem/mlkemtest"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"golang.org/x/crypto/chacha20poly1305"
	"strings"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/link"
	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/internal/vectors"
)

func init() { register("linking.json", genLinking) }

// Fixed inputs of the linking vectors.
var (
	linkRelay   = "wss://relay.example:8443/v1/relay"
	linkNow     = time.Unix(1_767_225_600, 0).UTC() // 2026-01-01T00:00:00Z
	linkExpires = linkNow.Add(10 * time.Minute)
)

func genLinking() ([]byte, error) {
	f := &vectors.File[vectors.LinkingCase]{
		Description: "Linked-device provisioning channel: URIs, device names, offers and record plaintexts accepted and refused; complete exchanges (N's name zero-padded and sealed in msg2) with every input, the randomness each side read and every intermediate value, records both ways, and the refusals derived from them; a man in the middle whose codes differ.",
		Spec:        "spec/linking.md",
	}
	add := func(id, comment, typ string, set func(c *vectors.LinkingCase)) {
		c := vectors.LinkingCase{ID: id, Comment: comment, Type: typ}
		set(&c)
		f.Cases = append(f.Cases, c)
	}
	for _, u := range linkURICases() {
		add(u.id, u.comment, "uri", func(c *vectors.LinkingCase) { c.URI = u.v })
	}
	for _, n := range linkNameCases() {
		add(n.id, n.comment, "name", func(c *vectors.LinkingCase) { c.Name = n.v })
	}
	ex, exState, err := linkExchange("exchange", "Laptop", [32]byte{0x4c, 0x49, 0x4e, 0x4b}, [32]byte{0x52, 0x45, 0x50, 0x4c, 0x59}, true)
	if err != nil {
		return nil, fmt.Errorf("exchange: %w", err)
	}
	offers, err := linkOfferCases(ex)
	if err != nil {
		return nil, err
	}
	for _, o := range offers {
		add(o.id, o.comment, "offer", func(c *vectors.LinkingCase) { c.Offer = o.v })
	}
	records, err := linkRecordCases(exState.cert)
	if err != nil {
		return nil, err
	}
	for _, r := range records {
		add(r.id, r.comment, "record", func(c *vectors.LinkingCase) { c.Record = r.v })
	}
	if ex.Refusals, err = linkRefusals(ex, exState); err != nil {
		return nil, fmt.Errorf("refusals: %w", err)
	}
	add("exchange", "a whole link: handshake, code, Account and two snapshot chunks E→N, Linked and Abort N→E, and the refusals derived from it", "exchange",
		func(c *vectors.LinkingCase) { c.Exchange = ex })

	// A man in the middle: E scanned M's URI; M runs its own exchange with N.
	em, _, err := linkExchange("mitm e-m", "Laptop", [32]byte{0xee}, [32]byte{0x52, 0x45, 0x50, 0x4c, 0x59}, false)
	if err != nil {
		return nil, err
	}
	mn, _, err := linkExchange("mitm m-n", "Laptop", [32]byte{0x4c, 0x49, 0x4e, 0x4b}, [32]byte{0xef}, false)
	if err != nil {
		return nil, err
	}
	if em.Code == mn.Code {
		return nil, errors.New("the man in the middle's codes match: pick other seeds")
	}
	add("mitm-swapped-uri", "E scanned a URI naming M's mailbox and M's offer; M linked itself to N with N's real URI. Both exchanges are honest and complete; the code E shows differs from the code N shows", "mitm",
		func(c *vectors.LinkingCase) { c.MITM = &vectors.LinkingMITMCase{EWithM: *em, MWithN: *mn} })
	return encode(f)
}

type linkURI struct {
	id, comment string
	v           *vectors.LinkingURICase
}

func linkURICases() []linkURI {
	relay := "wss%3A%2F%2Frelay.example%3A8443%2Fv1%2Frelay"
	var hash [32]byte
	for i := range hash {
		hash[i] = byte(i)
	}
	a := base64.RawURLEncoding.EncodeToString([]byte("LINK\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	h := base64.RawURLEncoding.EncodeToString(hash[:])
	tail := "&a=" + a + "&h=" + h + "&x=1767226200"
	base := "sealpost://link?v=1&r=wss%3A%2F%2Fh" + tail
	extra := link.MaxURILen + 1 - len(base)
	tooLong := "sealpost://link?v=1&r=wss%3A%2F%2Fh" + strings.Repeat("%2F", extra/3) + strings.Repeat("a", extra%3) + tail
	if len(tooLong) != link.MaxURILen+1 {
		panic("uri-too-long has the wrong length")
	}
	ok := func(id, comment, in string) linkURI {
		u, err := link.ParseURI(in)
		if err != nil {
			panic(fmt.Sprintf("%s: %v", id, err))
		}
		return linkURI{id, comment, &vectors.LinkingURICase{Input: in, Relay: u.Relay, LinkID: u.LinkID[:], OfferHash: u.OfferHash[:], Expires: u.Expires.Unix()}}
	}
	bad := func(id, comment, in string) linkURI {
		_, err := link.ParseURI(in)
		if err == nil {
			panic(id + ": accepted")
		}
		return linkURI{id, comment, &vectors.LinkingURICase{Input: in, Error: linkErrorName(err)}}
	}
	return []linkURI{
		ok("uri-valid", "a relay with port and path", "sealpost://link?v=1&r="+relay+tail),
		ok("uri-valid-ipv6", "an IPv6 relay host", "sealpost://link?v=1&r=wss%3A%2F%2F%5B2001%3Adb8%3A%3A1%5D%2Fv1%2Frelay"+tail),
		ok("uri-valid-bare-host", "a relay URL that is only a host", "sealpost://link?v=1&r=wss%3A%2F%2Frelay.example"+tail),
		bad("uri-version-2", "a version this implementation does not speak", "sealpost://link?v=2&r="+relay+tail),
		bad("uri-version-word", "a version that is not a number", "sealpost://link?v=one&r="+relay+tail),
		bad("uri-scheme-case", "the prefix is case-sensitive", "Sealpost://link?v=1&r="+relay+tail),
		bad("uri-missing-param", "x is missing", "sealpost://link?v=1&r="+relay+"&a="+a+"&h="+h),
		bad("uri-extra-param", "a parameter that version 1 does not define", "sealpost://link?v=1&r="+relay+tail+"&y=1"),
		bad("uri-duplicate-param", "a twice, h missing", "sealpost://link?v=1&r="+relay+"&a="+a+"&a="+a+"&x=1767226200"),
		bad("uri-order", "parameters out of order", "sealpost://link?v=1&a="+a+"&r="+relay+"&h="+h+"&x=1767226200"),
		bad("uri-lower-hex", "percent-escapes must be upper-case", "sealpost://link?v=1&r=wss%3a%2f%2frelay.example"+tail),
		bad("uri-escaped-unreserved", "an unreserved character must not be escaped", "sealpost://link?v=1&r=wss%3A%2F%2Frelay%2Eexample"+tail),
		bad("uri-raw-reserved", "a reserved character must be escaped", "sealpost://link?v=1&r=wss://relay.example"+tail),
		bad("uri-relay-https", "the relay must be wss://", "sealpost://link?v=1&r=https%3A%2F%2Frelay.example"+tail),
		bad("uri-relay-userinfo", "no user info in the relay URL", "sealpost://link?v=1&r=wss%3A%2F%2Fu%40relay.example"+tail),
		bad("uri-relay-query", "no query in the relay URL", "sealpost://link?v=1&r=wss%3A%2F%2Frelay.example%2F%3Fq"+tail),
		bad("uri-relay-port-0", "port 0", "sealpost://link?v=1&r=wss%3A%2F%2Frelay.example%3A0"+tail),
		bad("uri-link-id-short", "a is 42 characters", "sealpost://link?v=1&r="+relay+"&a="+a[1:]+"&h="+h+"&x=1767226200"),
		bad("uri-link-id-padded", "base64url without padding", "sealpost://link?v=1&r="+relay+"&a="+a+"=&h="+h+"&x=1767226200"),
		bad("uri-hash-non-canonical", "the last character of h carries non-zero unused bits", "sealpost://link?v=1&r="+relay+"&a="+a+"&h="+h[:42]+"9&x=1767226200"),
		bad("uri-expiry-leading-zero", "x with a leading zero", "sealpost://link?v=1&r="+relay+"&a="+a+"&h="+h+"&x=01767226200"),
		bad("uri-expiry-zero", "x = 0", "sealpost://link?v=1&r="+relay+"&a="+a+"&h="+h+"&x=0"),
		bad("uri-expiry-too-large", "x = 2^62 + 1", "sealpost://link?v=1&r="+relay+"&a="+a+"&h="+h+"&x=4611686018427387905"),
		bad("uri-too-long", "1025 bytes, the relay URL otherwise valid", tooLong),
	}
}

type linkName struct {
	id, comment string
	v           *vectors.LinkingNameCase
}

func linkNameCases() []linkName {
	var out []linkName
	for _, c := range []struct {
		id, comment, name string
	}{
		{"name-ascii", "plain ASCII", "Laptop"},
		{"name-emoji", "non-ASCII letters and an emoji", "Zoé's phone 📱"},
		{"name-64", "64 bytes", strings.Repeat("n", 64)},
		{"name-empty", "empty", ""},
		{"name-65", "65 bytes", strings.Repeat("n", 65)},
		{"name-newline", "a C0 control character", "Lap\ntop"},
		{"name-del", "DEL", "Lap\x7ftop"},
		{"name-c1", "a C1 control character (NEL)", "Lap\u0085top"},
		{"name-rlo", "RIGHT-TO-LEFT OVERRIDE", "Lap\u202etop"},
		{"name-fsi", "FIRST STRONG ISOLATE", "Lap\u2068top"},
		{"name-line-separator", "LINE SEPARATOR", "Lap\u2028top"},
		{"name-invalid-utf8", "not UTF-8", "Lap\xfftop"},
	} {
		v := &vectors.LinkingNameCase{Input: []byte(c.name)}
		if err := link.CheckName(c.name); err != nil {
			v.Error = linkErrorName(err)
		}
		out = append(out, linkName{c.id, c.comment, v})
	}
	return out
}

// linkState is what the refusals need beyond the exchange's vector.
type linkState struct {
	cert     *keys.DeviceCertificate
	e2n, n2e []byte
	th       [32]byte
	sealedE  [][]byte // e2n records as sealed, in order
	sealedN  [][]byte // n2e records
}

// linkExchange runs one exchange with the crypto/link API and recomputes
// every intermediate value independently (crypto/ecdh, crypto/mlkem,
// crypto/hkdf, crypto/hmac, crypto/chacha20poly1305), failing if the two
// disagree.
func linkExchange(seed, name string, linkID, replyID [32]byte, withRecords bool) (*vectors.LinkingExchangeCase, *linkState, error) {
	r := &recordingReader{r: testrand.New("vectors link " + seed)}
	dev, err := keys.GenerateDeviceKeys(r)
	if err != nil {
		return nil, nil, err
	}
	r.take()
	resp, err := link.NewResponder(r, linkRelay, linkID, dev.Public(), name, linkExpires)
	if err != nil {
		return nil, nil, err
	}
	respRand := r.take()
	offer := resp.Offer()
	u := resp.URI()
	parsed, err := link.ParseURI(u.String())
	if err != nil {
		return nil, nil, err
	}
	init, _, msg1, err := link.Initiate(r, parsed, offer, replyID, linkNow)
	if err != nil {
		return nil, nil, err
	}
	initRand := r.take()
	nch, gotReply, msg2, nCode, err := resp.Accept(msg1)
	if err != nil {
		return nil, nil, err
	}
	ech, eCode, err := init.Finish(msg2)
	if err != nil {
		return nil, nil, err
	}
	if gotReply != replyID || nCode != eCode {
		return nil, nil, errors.New("sides disagree")
	}
	pub := dev.Public()
	oh := sha256.Sum256(offer)
	v := &vectors.LinkingExchangeCase{
		DeviceSigning: pub.Signing[:], DeviceDH: pub.DH[:], Relay: linkRelay, LinkID: linkID[:], Name: name,
		Expires: linkExpires.Unix(), ResponderRandomness: respRand, Offer: offer, OfferHash: oh[:], URI: u.String(),
		Now: linkNow.Unix(), ReplyID: replyID[:], InitiatorRandomness: initRand, Msg1: msg1, Msg2: msg2, Code: nCode,
	}

	// Independently: the key schedule of spec/linking.md §5.
	xN, kemSeed, rN := respRand[:32], respRand[32:96], respRand[96:128]
	xE, m := initRand[:32], initRand[32:64]
	x := ecdh.X25519()
	xNPriv, err := x.NewPrivateKey(xN)
	if err != nil {
		return nil, nil, err
	}
	xEPriv, err := x.NewPrivateKey(xE)
	if err != nil {
		return nil, nil, err
	}
	v.InitiatorDH = xEPriv.PublicKey().Bytes()
	ssDH, err := xNPriv.ECDH(xEPriv.PublicKey())
	if err != nil {
		return nil, nil, err
	}
	dk, err := mlkem.NewDecapsulationKey768(kemSeed)
	if err != nil {
		return nil, nil, err
	}
	ssKEM, ct, err := mlkemtest.Encapsulate768(dk.EncapsulationKey(), m)
	if err != nil {
		return nil, nil, err
	}
	v.KEMCiphertext, v.SharedDH, v.SharedKEM = ct, ssDH, ssKEM
	wantMsg1Head := append(append([]byte{0x01}, v.InitiatorDH...), ct...)
	if !bytes.HasPrefix(msg1, wantMsg1Head) {
		return nil, nil, errors.New("msg1 is not 0x01 || x_E || ct")
	}
	th := sha256.Sum256(append(append(append(append([]byte(link.LabelTranscript), 0), oh[:]...), v.InitiatorDH...), ct...))
	if th != nch.Transcript() || th != ech.Transcript() {
		return nil, nil, errors.New("transcript hash differs")
	}
	v.Transcript = th[:]
	prk, err := hkdf.Extract(sha256.New, append(bytes.Clone(ssDH), ssKEM...), th[:])
	if err != nil {
		return nil, nil, err
	}
	v.PRK = prk
	expand := func(info string) []byte {
		k, err := hkdf.Expand(sha256.New, prk, info, 32)
		if err != nil {
			panic(err)
		}
		return k
	}
	v.KeyE2N, v.KeyN2E, v.KeySAS = expand(link.LabelE2N), expand(link.LabelN2E), expand(link.LabelSAS)
	// msg1's sealed reply id and msg2's sealed r_N || name_len || name
	// || zeros (§4).
	if got, err := aeadOpen(v.KeyE2N, 0, msg1[len(wantMsg1Head):], th[:], 0x01, 0x01); err != nil || !bytes.Equal(got, replyID[:]) {
		return nil, nil, fmt.Errorf("msg1 body: %v", err)
	}
	if got, err := aeadOpen(v.KeyN2E, 0, msg2[1:], th[:], 0x02, 0x02); err != nil || !bytes.Equal(got, msg2Plaintext(rN, len(name), name)) ||
		msg2[0] != 0x02 || len(msg2) != link.Msg2Size {
		return nil, nil, fmt.Errorf("msg2 body (r_N || name_len || name || zeros): %v", err)
	}
	if init.Name() != name || bytes.Contains(offer, []byte(name)) {
		return nil, nil, errors.New("the name is in the offer, or E did not learn it from msg2")
	}
	commit := sha256.Sum256(append(append([]byte(link.LabelCommit), 0), rN...))
	if !bytes.HasSuffix(offer, commit[:]) {
		return nil, nil, errors.New("offer does not end in the commitment")
	}
	mac := hmac.New(sha256.New, v.KeySAS)
	mac.Write(rN)
	v.CodeMAC = mac.Sum(nil)
	n := binary.BigEndian.Uint64(v.CodeMAC[:8]) % 1_000_000
	if want := fmt.Sprintf("%03d %03d", n/1000, n%1000); want != nCode {
		return nil, nil, fmt.Errorf("code %q, recomputed %q", nCode, want)
	}

	st := &linkState{e2n: v.KeyE2N, n2e: v.KeyN2E, th: th}
	aik, err := keys.GenerateAccountKey(r)
	if err != nil {
		return nil, nil, err
	}
	seedBytes := r.take()
	if st.cert, err = aik.CertifyDevice("alice", 2, pub, linkNow); err != nil {
		return nil, nil, err
	}
	if !withRecords {
		return v, st, nil
	}
	chunk1, chunk2 := []byte("snapshot: the first chunk; "), []byte("the second and last chunk")
	snap := append(bytes.Clone(chunk1), chunk2...)
	type step struct {
		e   bool
		rec link.Record
	}
	for _, s := range []step{
		{true, &link.Account{Certificate: st.cert, AccountSeed: seedBytes, SnapshotSize: uint64(len(snap)), SnapshotHash: sha256.Sum256(snap)}},
		{true, &link.SnapshotChunk{Data: chunk1}},
		{true, &link.SnapshotChunk{Data: chunk2}},
		{false, &link.Linked{Device: 2}},
		{false, &link.Abort{Reason: link.AbortCancelled, Text: "closed by the user"}},
	} {
		send, recv := ech, nch
		dir, key := "e2n", v.KeyE2N
		if !s.e {
			send, recv, dir, key = nch, ech, "n2e", v.KeyN2E
		}
		sealed, err := send.Seal(s.rec)
		if err != nil {
			return nil, nil, err
		}
		opened, err := recv.Open(sealed)
		if err != nil {
			return nil, nil, err
		}
		pt, err := link.MarshalRecord(opened)
		if err != nil {
			return nil, nil, err
		}
		seq := binary.BigEndian.Uint64(sealed[1:9])
		d := byte(0x01)
		if !s.e {
			d = 0x02
		}
		if got, err := aeadOpen(key, seq, sealed[9:], th[:], d, 0x03); err != nil || !bytes.Equal(got, pt) || sealed[0] != 0x03 {
			return nil, nil, fmt.Errorf("record %d %s: %v", seq, dir, err)
		}
		v.Records = append(v.Records, vectors.LinkingSealed{Direction: dir, Seq: seq, Record: linkRecordVector(opened), Plaintext: pt, Sealed: sealed})
		if s.e {
			st.sealedE = append(st.sealedE, sealed)
		} else {
			st.sealedN = append(st.sealedN, sealed)
		}
	}
	return v, st, nil
}

// aeadOpen opens a message of spec/linking.md §7.1: nonce = seq as 12
// bytes big-endian, AD = th || direction || type.
func aeadOpen(key []byte, seq uint64, ct, th []byte, dir, typ byte) ([]byte, error) {
	a, err := chacha20poly1305.New(key)
	if err != nil {
		return nil, err
	}
	var nonce [12]byte
	binary.BigEndian.PutUint64(nonce[4:], seq)
	return a.Open(nil, nonce[:], ct, append(append(bytes.Clone(th), dir), typ))
}

func aeadSeal(key []byte, seq uint64, pt, th []byte, dir, typ byte) []byte {
	a, err := chacha20poly1305.New(key)
	if err != nil {
		panic(err)
	}
	var nonce [12]byte
	binary.BigEndian.PutUint64(nonce[4:], seq)
	return a.Seal(nil, nonce[:], pt, append(append(bytes.Clone(th), dir), typ))
}

// msg2Plaintext is spec/linking.md §4.3's msg2 plaintext, 97 bytes:
// r || u8(nameLen) || field, the field zero-padded (or cut) to 64 bytes.
// A nameLen other than len(field), or a field of 0 or over 64 bytes,
// makes the refusals of §4.4.
func msg2Plaintext(r []byte, nameLen int, field string) []byte {
	pt := make([]byte, 32+1+64)
	copy(pt, r)
	pt[32] = byte(nameLen)
	copy(pt[33:], field)
	return pt
}

// sealRecord seals a record plaintext as spec/linking.md §7.2 says.
func sealRecord(key []byte, seq uint64, pt, th []byte, dir byte) []byte {
	out := []byte{0x03}
	out = binary.BigEndian.AppendUint64(out, seq)
	return append(out, aeadSeal(key, seq, pt, th, dir, 0x03)...)
}

func linkRecordVector(r link.Record) vectors.LinkingRecord {
	switch r := r.(type) {
	case *link.Account:
		return vectors.LinkingRecord{Type: "account", Certificate: r.Certificate.Marshal(), AccountSeed: r.AccountSeed,
			SnapshotSize: r.SnapshotSize, SnapshotHash: r.SnapshotHash[:]}
	case *link.SnapshotChunk:
		return vectors.LinkingRecord{Type: "snapshot_chunk", Data: r.Data}
	case *link.Linked:
		return vectors.LinkingRecord{Type: "linked", Device: uint32(r.Device)}
	case *link.Abort:
		return vectors.LinkingRecord{Type: "abort", Reason: uint8(r.Reason), Text: r.Text}
	}
	panic(fmt.Sprintf("record %T", r))
}

// linkErrorName is the name of spec/errors.md §3.24 of a crypto/link error.
func linkErrorName(err error) string {
	for _, e := range []struct {
		err  error
		name string
	}{
		{link.ErrMalformedURI, "malformed_uri"},
		{link.ErrUnsupportedVersion, "unsupported_version"},
		{link.ErrInvalidName, "invalid_name"},
		{link.ErrMalformed, "malformed"},
		{link.ErrOfferMismatch, "offer_mismatch"},
		{link.ErrExpired, "expired"},
		{link.ErrExpiryTooFar, "expiry_too_far"},
		{link.ErrDecrypt, "decrypt"},
		{link.ErrCommitMismatch, "commit_mismatch"},
		{link.ErrDuplicate, "duplicate"},
		{link.ErrGap, "gap"},
		{link.ErrWrongDirection, "wrong_direction"},
		{link.ErrSnapshotMismatch, "snapshot_mismatch"},
		{link.ErrWrongState, "wrong_state"},
	} {
		if errors.Is(err, e.err) {
			return e.name
		}
	}
	if err == nil {
		return ""
	}
	panic(fmt.Sprintf("no name for %v", err))
}
