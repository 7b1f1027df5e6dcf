package link

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/internal/prim"
	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/internal/testrand"
)

const testRelay = "wss://relay.example:8443/v1/relay"

var (
	testNow     = time.Unix(1_767_225_600, 0).UTC() // 2026-01-01T00:00:00Z
	testExpires = testNow.Add(10 * time.Minute)
	testLinkID  = [IDSize]byte{1, 2, 3}
	testReplyID = [IDSize]byte{9, 9, 9}
)

// exchange is everything one test handshake made.
type exchange struct {
	dev      *keys.DevicePrivateKeys
	resp     *Responder
	uri      *URI
	offer    []byte
	init     *Initiator
	msg1     []byte
	nch, ech *Channel
	replyID  [IDSize]byte
	msg2     []byte
	nCode    string
	eCode    string
}

// newResponder makes N's device keys and Responder from seed.
func newResponder(t testing.TB, seed string) (*keys.DevicePrivateKeys, *Responder) {
	t.Helper()
	rnd := testrand.New(seed)
	dev, err := keys.GenerateDeviceKeys(rnd)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewResponder(rnd, testRelay, testLinkID, dev.Public(), "Laptop", testExpires)
	if err != nil {
		t.Fatal(err)
	}
	return dev, r
}

// handshake runs a whole handshake with deterministic randomness.
func handshake(t testing.TB, seed string) *exchange {
	t.Helper()
	x := &exchange{}
	x.dev, x.resp = newResponder(t, seed+" N")
	x.uri = x.resp.URI()
	x.offer = x.resp.Offer()
	var err error
	x.init, _, x.msg1, err = Initiate(testrand.New(seed+" E"), x.uri, x.offer, testReplyID, testNow)
	if err != nil {
		t.Fatal(err)
	}
	x.nch, x.replyID, x.msg2, x.nCode, err = x.resp.Accept(x.msg1)
	if err != nil {
		t.Fatal(err)
	}
	x.ech, x.eCode, err = x.init.Finish(x.msg2)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// testCert makes an account and a certificate for dev.
func testCert(t testing.TB, dev keys.DevicePublicKeys) (*keys.AccountPrivateKey, *keys.DeviceCertificate) {
	t.Helper()
	aik, err := keys.GenerateAccountKey(testrand.New("link account"))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := aik.CertifyDevice("alice", 7, dev, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return aik, cert
}

func wantErr(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// respondKeysForTest derives the keys N derives from x_E and ct.
func respondKeysForTest(t testing.TB, n *Responder, xE, ct []byte) *sessionKeys {
	t.Helper()
	ssDH, err := prim.DH(n.x, xE)
	if err != nil {
		t.Fatal(err)
	}
	ssKEM, err := n.dk.Decapsulate(ct)
	if err != nil {
		t.Fatal(err)
	}
	return deriveKeys(ssDH, ssKEM, transcriptHash(OfferHash(n.offer), xE, ct))
}

// sealMsg2ForTest seals a msg2 plaintext pt under the Initiator's keys.
func sealMsg2ForTest(i *Initiator, pt []byte) []byte {
	return prim.AEADSeal([]byte{typeMsg2}, i.keys.n2e[:], nonce(0), pt, ad(i.keys.th, dirN2E, typeMsg2))
}

// msg2PlaintextForTest is r || nameLen || field, field zero-padded (or
// cut) to MaxNameLen bytes: spec/linking.md §4.3's plaintext when
// nameLen is len(field) and field is 1..64 bytes.
func msg2PlaintextForTest(r []byte, nameLen byte, field []byte) []byte {
	pt := make([]byte, msg2PlaintextSize)
	copy(pt, r)
	pt[HashSize] = nameLen
	copy(pt[HashSize+1:], field)
	return pt
}

func hmacSHA256(k, m []byte) []byte {
	h := hmac.New(sha256.New, k)
	h.Write(m)
	return h.Sum(nil)
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}
