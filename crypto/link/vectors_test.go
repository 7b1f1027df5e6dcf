package link

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/internal/prim"
	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/internal/vectors"
)

// errorNames maps the names of spec/errors.md §3.24 to the sentinels.
var errorNames = map[string]error{
	"malformed_uri":       ErrMalformedURI,
	"unsupported_version": ErrUnsupportedVersion,
	"invalid_name":        ErrInvalidName,
	"malformed":           ErrMalformed,
	"offer_mismatch":      ErrOfferMismatch,
	"expired":             ErrExpired,
	"expiry_too_far":      ErrExpiryTooFar,
	"decrypt":             ErrDecrypt,
	"commit_mismatch":     ErrCommitMismatch,
	"duplicate":           ErrDuplicate,
	"gap":                 ErrGap,
	"wrong_direction":     ErrWrongDirection,
	"snapshot_mismatch":   ErrSnapshotMismatch,
	"wrong_state":         ErrWrongState,
}

func loadVectors(t testing.TB) *vectors.File[vectors.LinkingCase] {
	t.Helper()
	f, err := vectors.Load[vectors.LinkingCase]("linking.json")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// checkOutcome fails unless err is the outcome named want ("" = none).
func checkOutcome(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	sentinel, ok := errorNames[want]
	if !ok {
		t.Fatalf("vector names unknown error %q", want)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %v, want %s", err, want)
	}
	// The most specific name: no other sentinel matches too.
	for name, s := range errorNames {
		if name != want && errors.Is(err, s) {
			t.Fatalf("error %v is both %s and %s", err, want, name)
		}
	}
}

func TestVectors(t *testing.T) {
	f := loadVectors(t)
	seen := map[string]int{}
	for _, c := range f.Cases {
		t.Run(c.ID, func(t *testing.T) {
			seen[c.Type]++
			set := 0
			for _, p := range []bool{c.URI != nil, c.Name != nil, c.Offer != nil, c.Record != nil, c.Exchange != nil, c.MITM != nil} {
				if p {
					set++
				}
			}
			if set != 1 {
				t.Fatalf("%d case bodies set", set)
			}
			switch c.Type {
			case "uri":
				checkURIVector(t, c.URI)
			case "name":
				checkOutcome(t, CheckName(string(c.Name.Input)), c.Name.Error)
			case "offer":
				checkOfferVector(t, c.Offer)
			case "record":
				checkRecordVector(t, c.Record)
			case "exchange":
				checkExchange(t, c.Exchange)
			case "mitm":
				checkExchange(t, &c.MITM.EWithM)
				checkExchange(t, &c.MITM.MWithN)
				if c.MITM.EWithM.Code == c.MITM.MWithN.Code {
					t.Fatal("the codes of E and N through a man in the middle match")
				}
				if c.MITM.EWithM.URI == c.MITM.MWithN.URI {
					t.Fatal("the man in the middle did not swap the URI")
				}
			default:
				t.Fatalf("unknown type %q", c.Type)
			}
		})
	}
	for _, typ := range []string{"uri", "name", "offer", "record", "exchange", "mitm"} {
		if seen[typ] == 0 {
			t.Errorf("no %s cases", typ)
		}
	}
}

func checkURIVector(t *testing.T, v *vectors.LinkingURICase) {
	u, err := ParseURI(v.Input)
	checkOutcome(t, err, v.Error)
	if err != nil {
		return
	}
	if u.Relay != v.Relay || !bytes.Equal(u.LinkID[:], v.LinkID) || !bytes.Equal(u.OfferHash[:], v.OfferHash) || u.Expires.Unix() != v.Expires {
		t.Fatalf("parsed %+v", u)
	}
	if u.String() != v.Input {
		t.Fatalf("String %q", u.String())
	}
}

func checkOfferVector(t *testing.T, v *vectors.LinkingOfferCase) {
	o, err := ParseOffer(v.Input)
	checkOutcome(t, err, v.Error)
	if err != nil {
		return
	}
	if o.Expires.Unix() != v.Expires || o.Relay != v.Relay || !bytes.Equal(o.LinkID[:], v.LinkID) ||
		!bytes.Equal(o.Device.Signing[:], v.DeviceSigning) || !bytes.Equal(o.Device.DH[:], v.DeviceDH) ||
		!bytes.Equal(o.DH[:], v.DH) || !bytes.Equal(o.KEM[:], v.KEM) || !bytes.Equal(o.Commit[:], v.Commit) {
		t.Fatalf("parsed %+v", o)
	}
	again, err := o.Marshal()
	if err != nil || !bytes.Equal(again, v.Input) {
		t.Fatalf("marshal(parse(b)) != b: %v", err)
	}
}

func checkRecordVector(t *testing.T, v *vectors.LinkingRecordCase) {
	r, err := ParseRecord(v.Input)
	checkOutcome(t, err, v.Error)
	if err != nil {
		if v.Record != nil {
			t.Fatal("a refused record with fields")
		}
		return
	}
	checkRecordFields(t, r, v.Record)
	again, err := MarshalRecord(r)
	if err != nil || !bytes.Equal(again, v.Input) {
		t.Fatalf("marshal(parse(b)) != b: %v", err)
	}
}

// checkRecordFields compares a record with its vector, every field.
func checkRecordFields(t *testing.T, r Record, v *vectors.LinkingRecord) {
	t.Helper()
	want := vectors.LinkingRecord{Type: v.Type}
	switch r := r.(type) {
	case *Account:
		want = vectors.LinkingRecord{Type: "account", Certificate: r.Certificate.Marshal(), AccountSeed: r.AccountSeed,
			SnapshotSize: r.SnapshotSize, SnapshotHash: r.SnapshotHash[:]}
	case *SnapshotChunk:
		want = vectors.LinkingRecord{Type: "snapshot_chunk", Data: r.Data}
	case *Linked:
		want = vectors.LinkingRecord{Type: "linked", Device: uint32(r.Device)}
	case *Abort:
		want = vectors.LinkingRecord{Type: "abort", Reason: uint8(r.Reason), Text: r.Text}
	default:
		t.Fatalf("record %T", r)
	}
	if want.Type != v.Type || !bytes.Equal(want.Certificate, v.Certificate) || !bytes.Equal(want.AccountSeed, v.AccountSeed) ||
		want.SnapshotSize != v.SnapshotSize || !bytes.Equal(want.SnapshotHash, v.SnapshotHash) || !bytes.Equal(want.Data, v.Data) ||
		want.Device != v.Device || want.Reason != v.Reason || want.Text != v.Text {
		t.Fatalf("record %+v, vector %+v", want, *v)
	}
}

func newVectorResponder(t *testing.T, v *vectors.LinkingExchangeCase) *Responder {
	t.Helper()
	var dev keys.DevicePublicKeys
	copy(dev.Signing[:], v.DeviceSigning)
	copy(dev.DH[:], v.DeviceDH)
	r, err := NewResponder(bytes.NewReader(v.ResponderRandomness), v.Relay, [IDSize]byte(v.LinkID), dev, v.Name, time.Unix(v.Expires, 0))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func vectorInitiate(v *vectors.LinkingExchangeCase, uri string, offer []byte, now int64) (*Initiator, *Offer, []byte, error) {
	u, err := ParseURI(uri)
	if err != nil {
		return nil, nil, nil, err
	}
	return Initiate(bytes.NewReader(v.InitiatorRandomness), u, offer, [IDSize]byte(v.ReplyID), time.Unix(now, 0))
}

func checkExchange(t *testing.T, v *vectors.LinkingExchangeCase) {
	t.Helper()
	resp := newVectorResponder(t, v)
	if !bytes.Equal(resp.Offer(), v.Offer) {
		t.Fatal("offer differs")
	}
	if h := OfferHash(v.Offer); !bytes.Equal(h[:], v.OfferHash) {
		t.Fatal("offer hash differs")
	}
	if resp.URI().String() != v.URI {
		t.Fatalf("URI %q, want %q", resp.URI().String(), v.URI)
	}
	init, offer, msg1, err := vectorInitiate(v, v.URI, v.Offer, v.Now)
	if err != nil {
		t.Fatal(err)
	}
	if offer.Device != newVectorResponder(t, v).o.Device || !bytes.Equal(msg1, v.Msg1) {
		t.Fatal("msg1 differs")
	}
	// The intermediates of spec/linking.md §5, with this package's code.
	xE, ct := v.Msg1[1:33], v.Msg1[33:33+kemCiphertextSize]
	if !bytes.Equal(xE, v.InitiatorDH) || !bytes.Equal(ct, v.KEMCiphertext) {
		t.Fatal("msg1 is not 0x01 || x_E || ct")
	}
	th := transcriptHash([HashSize]byte(v.OfferHash), xE, ct)
	if !bytes.Equal(th[:], v.Transcript) {
		t.Fatal("transcript differs")
	}
	k := respondKeysForTest(t, resp, xE, ct)
	ikm := append(bytes.Clone(v.SharedDH), v.SharedKEM...)
	if prk, err := hkdf.Extract(sha256.New, ikm, th[:]); err != nil || !bytes.Equal(prk, v.PRK) {
		t.Fatal("PRK differs")
	}
	if !bytes.Equal(k.e2n[:], v.KeyE2N) || !bytes.Equal(k.n2e[:], v.KeyN2E) || !bytes.Equal(k.sas[:], v.KeySAS) {
		t.Fatal("keys differ")
	}
	if mac := hmacSHA256(v.KeySAS, v.ResponderRandomness[96:128]); !bytes.Equal(mac, v.CodeMAC) {
		t.Fatal("code MAC differs")
	}
	nch, reply, msg2, nCode, err := resp.Accept(v.Msg1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(reply[:], v.ReplyID) || !bytes.Equal(msg2, v.Msg2) || nCode != v.Code {
		t.Fatalf("Accept: reply %x, code %q, msg2 equal %v", reply, nCode, bytes.Equal(msg2, v.Msg2))
	}
	if init.Name() != "" {
		t.Fatal("a name before Finish")
	}
	ech, eCode, err := init.Finish(v.Msg2)
	if err != nil || eCode != v.Code || init.Name() != v.Name {
		t.Fatalf("Finish: %v, code %q, name %q", err, eCode, init.Name())
	}
	// msg2's plaintext is r_N || u8(len(name)) || name || zeros to 64
	// name bytes (spec/linking.md §4.3).
	if pt, err := prim.AEADOpen(nil, v.KeyN2E, nonce(0), v.Msg2[1:], ad([HashSize]byte(v.Transcript), dirN2E, typeMsg2)); err != nil ||
		len(v.Msg2) != Msg2Size || !bytes.Equal(pt, msg2PlaintextForTest(v.ResponderRandomness[96:128], byte(len(v.Name)), []byte(v.Name))) {
		t.Fatalf("msg2 plaintext: %v", err)
	}
	for i, rec := range v.Records {
		send, recv := ech, nch
		if rec.Direction == "n2e" {
			send, recv = nch, ech
		} else if rec.Direction != "e2n" {
			t.Fatalf("record %d: direction %q", i, rec.Direction)
		}
		parsed, err := ParseRecord(rec.Plaintext)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		checkRecordFields(t, parsed, &rec.Record)
		sealed, err := send.Seal(parsed)
		if err != nil || !bytes.Equal(sealed, rec.Sealed) || send.sendSeq-1 != rec.Seq {
			t.Fatalf("record %d: sealed differs (%v)", i, err)
		}
		opened, err := recv.Open(rec.Sealed)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		checkRecordFields(t, opened, &rec.Record)
	}
	for _, r := range v.Refusals {
		t.Run(r.Comment, func(t *testing.T) { checkRefusal(t, v, r) })
	}
}

func checkRefusal(t *testing.T, v *vectors.LinkingExchangeCase, r vectors.LinkingRefusal) {
	switch r.Stage {
	case "initiate":
		_, _, _, err := vectorInitiate(v, r.URI, r.Offer, r.Now)
		checkOutcome(t, err, r.Error)
	case "accept":
		resp := newVectorResponder(t, v)
		_, _, _, _, err := resp.Accept(r.Msg)
		checkOutcome(t, err, r.Error)
		// Nothing changed: the real msg1 is still accepted.
		if _, _, _, _, err := resp.Accept(v.Msg1); err != nil {
			t.Fatalf("the real msg1 after the refusal: %v", err)
		}
	case "finish":
		init, _, _, err := vectorInitiate(v, v.URI, v.Offer, v.Now)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = init.Finish(r.Msg)
		checkOutcome(t, err, r.Error)
		if _, _, err := init.Finish(v.Msg2); err != nil {
			t.Fatalf("the real msg2 after the refusal: %v", err)
		}
	case "open_n", "open_e":
		resp := newVectorResponder(t, v)
		init, _, _, err := vectorInitiate(v, v.URI, v.Offer, v.Now)
		if err != nil {
			t.Fatal(err)
		}
		nch, _, msg2, _, err := resp.Accept(v.Msg1)
		if err != nil {
			t.Fatal(err)
		}
		ech, _, err := init.Finish(msg2)
		if err != nil {
			t.Fatal(err)
		}
		ch := nch
		if r.Stage == "open_e" {
			ch = ech
		}
		for i, o := range r.Opens {
			before := ch.recvSeq
			_, err := ch.Open(o.Sealed)
			checkOutcome(t, err, o.Error)
			if o.Error != "" && ch.recvSeq != before {
				t.Fatalf("open %d: a refused record moved the channel", i)
			}
		}
	default:
		t.Fatalf("unknown stage %q", r.Stage)
	}
}

// Fuzz seeds, from the vectors (STYLE.md).

func vectorURIs(t testing.TB) []string {
	var out []string
	for _, c := range loadVectors(t).Cases {
		switch {
		case c.URI != nil:
			out = append(out, c.URI.Input)
		case c.Exchange != nil:
			out = append(out, c.Exchange.URI)
			for _, r := range c.Exchange.Refusals {
				if r.URI != "" {
					out = append(out, r.URI)
				}
			}
		}
	}
	return out
}

func vectorOffers(t testing.TB) [][]byte {
	var out [][]byte
	for _, c := range loadVectors(t).Cases {
		switch {
		case c.Offer != nil:
			out = append(out, c.Offer.Input)
		case c.Exchange != nil:
			out = append(out, c.Exchange.Offer)
		}
	}
	return out
}

func vectorRecords(t testing.TB) [][]byte {
	var out [][]byte
	for _, c := range loadVectors(t).Cases {
		switch {
		case c.Record != nil:
			out = append(out, c.Record.Input)
		case c.Exchange != nil:
			for _, r := range c.Exchange.Records {
				out = append(out, r.Plaintext, r.Sealed)
			}
			for _, r := range c.Exchange.Refusals {
				for _, o := range r.Opens {
					out = append(out, o.Sealed)
				}
			}
		}
	}
	return out
}
