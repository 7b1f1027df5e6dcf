package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/link"
	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/internal/vectors"
)

type linkOffer struct {
	id, comment string
	v           *vectors.LinkingOfferCase
}

func linkOfferVector(b []byte) *vectors.LinkingOfferCase {
	o, err := link.ParseOffer(b)
	if err != nil {
		return &vectors.LinkingOfferCase{Input: b, Error: linkErrorName(err)}
	}
	return &vectors.LinkingOfferCase{Input: b, Expires: o.Expires.Unix(), Relay: o.Relay, LinkID: o.LinkID[:],
		DeviceSigning: o.Device.Signing[:], DeviceDH: o.Device.DH[:], DH: o.DH[:], KEM: o.KEM[:], Commit: o.Commit[:]}
}

// offerOffsets are the offsets of an offer's fields after the relay
// (spec/linking.md §3.1), for the exchange's offer.
func offerOffsets(relay string) (signing, dh, kem int) {
	signing = 1 + 8 + 2 + len(relay) + 32
	dh = signing + 64
	return signing, dh, dh + 32
}

func linkOfferCases(ex *vectors.LinkingExchangeCase) ([]linkOffer, error) {
	good := []byte(ex.Offer)
	o, err := link.ParseOffer(good)
	if err != nil {
		return nil, err
	}
	long := *o
	long.Relay = "wss://relay.example/" + strings.Repeat("r", link.MaxRelayLen-20)
	longB, err := long.Marshal()
	if err != nil {
		return nil, err
	}
	signing, dh, kem := offerOffsets(ex.Relay)
	// The layout before N's name moved into msg2: a name after the
	// device keys.
	named := append(append(append(bytes.Clone(good[:dh]), 6), "Laptop"...), good[dh:]...)
	set := func(off int, v ...byte) []byte {
		c := bytes.Clone(good)
		copy(c[off:], v)
		return c
	}
	out := []linkOffer{
		{"offer-valid", "the exchange's offer", linkOfferVector(good)},
		{"offer-valid-longest", "relay URL of 512 bytes: 1867 bytes", linkOfferVector(longB)},
		{"offer-version-2", "an offer of another version", linkOfferVector(set(0, 2))},
		{"offer-truncated", "the commitment's last byte missing", linkOfferVector(good[:len(good)-1])},
		{"offer-trailing", "a byte after the commitment", linkOfferVector(append(bytes.Clone(good), 0))},
		{"offer-expiry-zero", "expiry 0", linkOfferVector(set(1, 0, 0, 0, 0, 0, 0, 0, 0))},
		{"offer-relay-http", "relay URL not wss://", linkOfferVector(set(11, []byte("http")...))},
		{"offer-signing-key", "a device signing key that is not a point", linkOfferVector(set(signing, bytes.Repeat([]byte{0xff}, 32)...))},
		{"offer-with-name", "a name (length 6, Laptop) after the device keys: an offer holds no name, N sends it in msg2", linkOfferVector(named)},
		{"offer-x-low-order", "x_N of low order (u = 1)", linkOfferVector(set(dh, append([]byte{1}, make([]byte, 31)...)...))},
		{"offer-kem-unreduced", "ek_N with a coefficient not below q", linkOfferVector(set(kem, bytes.Repeat([]byte{0xff}, 12)...))},
	}
	for _, c := range out[2:] {
		if c.v.Error == "" {
			return nil, fmt.Errorf("%s accepted", c.id)
		}
	}
	return out, nil
}

type linkRecord struct {
	id, comment string
	v           *vectors.LinkingRecordCase
}

func linkRecordCases(cert *keys.DeviceCertificate) ([]linkRecord, error) {
	acct, err := link.MarshalRecord(&link.Account{Certificate: cert, SnapshotSize: 0, SnapshotHash: sha256.Sum256(nil)})
	if err != nil {
		return nil, err
	}
	c := cert.Marshal()
	seedOff := 1 + 2 + len(c)
	seed16 := append(append(bytes.Clone(acct[:seedOff]), 16), make([]byte, 16)...)
	seed16 = append(seed16, acct[seedOff+1:]...)
	// A 32-byte seed, but not the certificate's account key's.
	otherSeed := append(append(bytes.Clone(acct[:seedOff]), 32), bytes.Repeat([]byte{0x11}, 32)...)
	otherSeed = append(otherSeed, acct[seedOff+1:]...)
	tooBig := bytes.Clone(acct)
	copy(tooBig[seedOff+1:], []byte{0, 0, 0, 0, 0x04, 0, 0, 1}) // 64 MiB + 1
	vec := func(b []byte) *vectors.LinkingRecordCase {
		r, err := link.ParseRecord(b)
		if err != nil {
			return &vectors.LinkingRecordCase{Input: b, Error: linkErrorName(err)}
		}
		v := linkRecordVector(r)
		return &vectors.LinkingRecordCase{Input: b, Record: &v}
	}
	return []linkRecord{
		{"record-account", "Account without the account seed, empty snapshot", vec(acct)},
		{"record-account-seed-16", "an account seed of 16 bytes", vec(seed16)},
		{"record-account-seed-other", "an account seed that is not the certificate's account key", vec(otherSeed)},
		{"record-account-snapshot-too-large", "a snapshot of MaxSnapshot + 1 bytes", vec(tooBig)},
		{"record-chunk", "a one-byte snapshot chunk", vec([]byte{0x02, 0xaa})},
		{"record-chunk-empty", "an empty snapshot chunk", vec([]byte{0x02})},
		{"record-linked", "Linked, device 2", vec([]byte{0x03, 0, 0, 0, 2})},
		{"record-linked-zero", "Linked, device 0", vec([]byte{0x03, 0, 0, 0, 0})},
		{"record-linked-trailing", "Linked with a byte after it", vec([]byte{0x03, 0, 0, 0, 2, 0})},
		{"record-abort", "Abort, an unknown reason, text", vec(append([]byte{0x04, 0x63, 4}, "oops"...))},
		{"record-abort-bidi", "Abort text with a bidirectional isolate", vec(append([]byte{0x04, 1, 3}, "\u2067"...))},
		{"record-unknown-type", "record type 5", vec([]byte{0x05, 0})},
	}, nil
}

// linkRefusals derives the refusals of spec/linking.md §11 from the
// exchange.
func linkRefusals(ex *vectors.LinkingExchangeCase, st *linkState) ([]vectors.LinkingRefusal, error) {
	u, err := link.ParseURI(ex.URI)
	if err != nil {
		return nil, err
	}
	uriWith := func(edit func(u *link.URI)) string {
		c := *u
		edit(&c)
		return c.String()
	}
	offer := []byte(ex.Offer)
	now := time.Unix(ex.Now, 0).UTC()
	expires := time.Unix(ex.Expires, 0).UTC()
	tampered := bytes.Clone(offer)
	tampered[len(tampered)-1] ^= 0x01 // the commitment's last byte
	v2 := bytes.Clone(offer)
	v2[0] = 2
	short := offer[:len(offer)-1]
	hashOf := func(b []byte) string { return uriWith(func(u *link.URI) { u.OfferHash = sha256.Sum256(b) }) }

	var out []vectors.LinkingRefusal
	initiate := func(comment, uri string, offer []byte, at time.Time, want string) {
		out = append(out, vectors.LinkingRefusal{Comment: comment, Stage: "initiate", URI: uri, Offer: offer, Now: at.Unix(), Error: want})
	}
	initiate("the offer in the mailbox was changed (a bit of the commitment): its SHA-256 is not h", ex.URI, tampered, now, "offer_mismatch")
	initiate("h was swapped", uriWith(func(u *link.URI) { u.OfferHash[0] ^= 1 }), offer, now, "offer_mismatch")
	initiate("N's offer copied to another mailbox: the URI's link id is not the offer's", uriWith(func(u *link.URI) { u.LinkID[0] ^= 1 }), offer, now, "offer_mismatch")
	initiate("N's offer copied to another relay", uriWith(func(u *link.URI) { u.Relay = "wss://relay.example:8443/v1/other" }), offer, now, "offer_mismatch")
	initiate("the URI's expiry is not the offer's", uriWith(func(u *link.URI) { u.Expires = u.Expires.Add(-time.Second) }), offer, now, "offer_mismatch")
	initiate("E's clock at the expiry", ex.URI, offer, expires, "expired")
	initiate("E's clock past the expiry", ex.URI, offer, expires.Add(time.Hour), "expired")
	initiate("the expiry more than 15 minutes after E's clock", ex.URI, offer, expires.Add(-link.MaxOfferLifetime-time.Second), "expiry_too_far")
	initiate("an offer of version 2, under its own hash", hashOf(v2), v2, now, "unsupported_version")
	initiate("a truncated offer, under its own hash", hashOf(short), short, now, "malformed")

	msg1 := []byte(ex.Msg1)
	flip := func(b []byte, i int) []byte {
		c := bytes.Clone(b)
		c[i] ^= 1
		return c
	}
	// msg1 for another Responder (another offer, same mailbox).
	or := testrand.New("vectors link other responder")
	odev, err := keys.GenerateDeviceKeys(or)
	if err != nil {
		return nil, err
	}
	oresp, err := link.NewResponder(or, ex.Relay, u.LinkID, odev.Public(), ex.Name, expires)
	if err != nil {
		return nil, err
	}
	ou := oresp.URI()
	_, _, otherMsg1, err := link.Initiate(or, ou, oresp.Offer(), [32]byte(ex.ReplyID), now)
	if err != nil {
		return nil, err
	}
	ownReply := append(bytes.Clone(msg1[:1+32+1088]), aeadSeal(ex.KeyE2N, 0, u.LinkID[:], st.th[:], 0x01, 0x01)...)
	zeroX := bytes.Clone(msg1)
	copy(zeroX[1:33], make([]byte, 32))
	for _, c := range []struct {
		comment string
		msg     []byte
		want    string
	}{
		{"msg1 with its tag changed", flip(msg1, len(msg1)-1), "decrypt"},
		{"msg1 with x_E changed", flip(msg1, 2), "decrypt"},
		{"msg1 with the ML-KEM ciphertext changed", flip(msg1, 100), "decrypt"},
		{"msg1 made for another offer (replayed to a second new device)", otherMsg1, "decrypt"},
		{"msg1 one byte short", msg1[:len(msg1)-1], "malformed"},
		{"msg1 with x_E = 0 (low order)", zeroX, "malformed"},
		{"msg1 whose reply link id is N's own link id", ownReply, "malformed"},
	} {
		out = append(out, vectors.LinkingRefusal{Comment: c.comment, Stage: "accept", Msg: c.msg, Error: c.want})
	}

	msg2 := []byte(ex.Msg2)
	rN := ex.ResponderRandomness[96:128]
	// msg2s that open under k_n2e: plaintext r || name_len || field,
	// the field zero-padded or cut to 64 bytes (§4.3).
	sealedPT := func(pt []byte) []byte {
		return append([]byte{0x02}, aeadSeal(ex.KeyN2E, 0, pt, st.th[:], 0x02, 0x02)...)
	}
	sealed2 := func(r []byte, nameLen int, field string) []byte { return sealedPT(msg2Plaintext(r, nameLen, field)) }
	named := func(r []byte, name string) []byte { return sealed2(r, len(name), name) }
	lastPad := msg2Plaintext(rN, len(ex.Name), ex.Name)
	lastPad[len(lastPad)-1] = 0x01
	midPad := msg2Plaintext(rN, len(ex.Name), ex.Name)
	midPad[33+len(ex.Name)] = 0x80
	for _, c := range []struct {
		comment string
		msg     []byte
		want    string
	}{
		{"msg2 with its tag changed", flip(msg2, len(msg2)-1), "decrypt"},
		{"msg2 with a byte of the sealed name changed", flip(msg2, 1+32+1), "decrypt"},
		{"msg2 with a byte of the sealed padding changed", flip(msg2, len(msg2)-16-1), "decrypt"},
		{"msg2 one byte short: the last byte of the tag missing", msg2[:len(msg2)-1], "malformed"},
		{"msg2 one byte long", append(bytes.Clone(msg2), 0x00), "malformed"},
		{"msg2 that opens but reveals an r that is not the committed r_N", named(bytes.Repeat([]byte{0x55}, 32), ex.Name), "commit_mismatch"},
		{"msg2 unpadded (r_N || name, without name_len or padding)", sealedPT(append(bytes.Clone(rN), ex.Name...)), "malformed"},
		{"msg2 that opens, r_N right, name_len 0 and all-zero padding", sealed2(rN, 0, ""), "malformed"},
		{"msg2 that opens, r_N right, name_len 65 over 64 bytes of n", sealed2(rN, link.MaxNameLen+1, strings.Repeat("n", link.MaxNameLen)), "malformed"},
		{"msg2 that opens, r_N right, name_len 255", sealed2(rN, 255, strings.Repeat("n", link.MaxNameLen)), "malformed"},
		{"msg2 that opens, r_N right, the last padding byte 0x01", sealedPT(lastPad), "malformed"},
		{"msg2 that opens, r_N right, the first padding byte 0x80", sealedPT(midPad), "malformed"},
		{"msg2 that opens, r_N right, name_len 3 over the name Laptop: non-zero padding", sealed2(rN, 3, "Laptop"), "malformed"},
		{"msg2 that opens, r_N right, name_len 7 over Laptop: the name ends in U+0000", sealed2(rN, 7, "Laptop"), "malformed"},
		{"msg2 that opens, r_N right, a name with a line feed", named(rN, "Lap\ntop"), "malformed"},
		{"msg2 that opens, r_N right, a name with RIGHT-TO-LEFT OVERRIDE", named(rN, "Lap\u202etop"), "malformed"},
		{"msg2 that opens, r_N right, a name that is not UTF-8", named(rN, "Lap\xfftop"), "malformed"},
		{"msg2 of type 0x01", append([]byte{0x01}, msg2[1:]...), "malformed"},
	} {
		out = append(out, vectors.LinkingRefusal{Comment: c.comment, Stage: "finish", Msg: c.msg, Error: c.want})
	}

	e1, e2 := st.sealedE[0], st.sealedE[1]
	n1 := st.sealedN[0]
	otherTH := sha256.Sum256([]byte("another transcript"))
	linkedPT, _ := link.MarshalRecord(&link.Linked{Device: 2})
	open := func(stage, comment string, opens ...vectors.LinkingOpen) {
		out = append(out, vectors.LinkingRefusal{Comment: comment, Stage: stage, Opens: opens})
	}
	o := func(b []byte, e string) vectors.LinkingOpen { return vectors.LinkingOpen{Sealed: b, Error: e} }
	open("open_n", "a record with a body byte changed, then the real one", o(flip(e1, 12), "decrypt"), o(e1, ""))
	open("open_n", "a record with its sequence number changed (another nonce)", o(flip(e1, 8), "decrypt"))
	open("open_n", "record 2 before record 1: a gap; then both in order", o(e2, "gap"), o(e1, ""), o(e2, ""))
	open("open_n", "record 1 twice: the second is a duplicate", o(e1, ""), o(e1, "duplicate"), o(e2, ""))
	open("open_n", "a record of the other direction (N→E) given to N", o(n1, "decrypt"))
	open("open_n", "a record under the right key but another transcript", o(sealRecord(ex.KeyE2N, 1, linkedPT, otherTH[:], 0x01), "decrypt"))
	open("open_n", "an authentic E→N record of a type only N sends (Linked)", o(sealRecord(ex.KeyE2N, 1, linkedPT, st.th[:], 0x01), "wrong_direction"))
	open("open_n", "an authentic record whose body is malformed (Linked device 0)", o(sealRecord(ex.KeyE2N, 1, []byte{0x03, 0, 0, 0, 0}, st.th[:], 0x01), "malformed"))
	open("open_e", "a record E sealed, given back to E", o(e1, "decrypt"), o(n1, ""), o(n1, "duplicate"))
	for _, r := range out {
		if err := linkCheckRefusal(ex, r); err != nil {
			return nil, fmt.Errorf("%s: %w", r.Comment, err)
		}
	}
	return out, nil
}

// linkCheckRefusal runs a refusal through crypto/link as a reader of the
// vectors would, and fails unless every outcome is the one written.
func linkCheckRefusal(ex *vectors.LinkingExchangeCase, r vectors.LinkingRefusal) error {
	var dev keys.DevicePublicKeys
	copy(dev.Signing[:], ex.DeviceSigning)
	copy(dev.DH[:], ex.DeviceDH)
	newResp := func() (*link.Responder, error) {
		return link.NewResponder(bytes.NewReader(ex.ResponderRandomness), ex.Relay, [32]byte(ex.LinkID), dev, ex.Name, time.Unix(ex.Expires, 0))
	}
	resp, err := newResp()
	if err != nil {
		return err
	}
	initiate := func(uri string, offer []byte, now int64) (*link.Initiator, error) {
		u, err := link.ParseURI(uri)
		if err != nil {
			return nil, err
		}
		i, _, _, err := link.Initiate(bytes.NewReader(ex.InitiatorRandomness), u, offer, [32]byte(ex.ReplyID), time.Unix(now, 0))
		return i, err
	}
	check := func(err error, want string) error {
		if got := linkErrorName(err); got != want {
			return fmt.Errorf("outcome %q, want %q", got, want)
		}
		return nil
	}
	switch r.Stage {
	case "initiate":
		_, err := initiate(r.URI, r.Offer, r.Now)
		return check(err, r.Error)
	case "accept":
		_, _, _, _, err := resp.Accept(r.Msg)
		return check(err, r.Error)
	case "finish":
		i, err := initiate(ex.URI, ex.Offer, ex.Now)
		if err != nil {
			return err
		}
		_, _, err = i.Finish(r.Msg)
		return check(err, r.Error)
	case "open_n", "open_e":
		i, err := initiate(ex.URI, ex.Offer, ex.Now)
		if err != nil {
			return err
		}
		nch, _, msg2, _, err := resp.Accept(ex.Msg1)
		if err != nil {
			return err
		}
		ech, _, err := i.Finish(msg2)
		if err != nil {
			return err
		}
		ch := nch
		if r.Stage == "open_e" {
			ch = ech
		}
		for k, o := range r.Opens {
			_, err := ch.Open(o.Sealed)
			if err := check(err, o.Error); err != nil {
				return fmt.Errorf("open %d: %w", k, err)
			}
		}
		return nil
	}
	return fmt.Errorf("unknown stage %q", r.Stage)
}
