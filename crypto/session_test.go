// Package crypto_test runs a whole session through the crypto core the way
// the client will: bundle → PQXDH → Double Ratchet → sealed envelope, and
// back. Each package tests its own step; this checks that the steps fit.
package crypto_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/pqxdh"
	"github.com/sealpost/sealpost/crypto/ratchet"
	"github.com/sealpost/sealpost/crypto/seal"
	"github.com/sealpost/sealpost/internal/testrand"
)

// device is one account with one device, holding its private prekeys the
// way a client's store would, and its sessions by peer certificate.
type device struct {
	handle   string
	account  *keys.AccountPrivateKey
	keys     *keys.DevicePrivateKeys
	cert     *keys.DeviceCertificate
	prekeys  map[[2]uint32]*keys.PrekeyPrivate // (kind, id) → private key
	bundle   *keys.Bundle
	sessions map[keys.DevicePublicKeys]*ratchet.State
}

func newDevice(t *testing.T, r io.Reader, handle string) *device {
	t.Helper()
	d := &device{handle: handle, prekeys: map[[2]uint32]*keys.PrekeyPrivate{}, sessions: map[keys.DevicePublicKeys]*ratchet.State{}}
	var err error
	if d.account, err = keys.GenerateAccountKey(r); err != nil {
		t.Fatal(err)
	}
	if d.keys, err = keys.GenerateDeviceKeys(r); err != nil {
		t.Fatal(err)
	}
	if d.cert, err = d.account.CertifyDevice(handle, 1, d.keys.Public(), time.Unix(1_767_225_600, 0)); err != nil {
		t.Fatal(err)
	}
	d.bundle = &keys.Bundle{Certificate: d.cert}
	gen := func(kind keys.PrekeyKind, id uint32) *keys.Prekey {
		priv, pub, err := d.keys.GeneratePrekey(r, kind, id)
		if err != nil {
			t.Fatal(err)
		}
		d.prekeys[[2]uint32{uint32(kind), id}] = priv
		return pub
	}
	d.bundle.SignedPrekey = gen(keys.SignedPrekey, 1)
	d.bundle.OneTimePrekey = gen(keys.OneTimePrekey, 2)
	d.bundle.KEMPrekey = gen(keys.OneTimeKEMPrekey, 3)
	return d
}

// claim returns the bundle as a key server would serve it: encoded, then
// parsed by the claimant.
func (d *device) claim(t *testing.T) *keys.Bundle {
	b, err := keys.ParseBundle(d.bundle.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// send encrypts pt to peer, starting a session from a claimed bundle if
// there is none, and seals the ratchet message.
func (d *device) send(t *testing.T, r io.Reader, peer *device, pt []byte) []byte {
	t.Helper()
	s := d.sessions[peer.cert.Keys]
	if s == nil {
		x, err := pqxdh.Initiate(r, d.keys, d.cert, peer.handle, peer.account.Public(), peer.claim(t))
		if err != nil {
			t.Fatal(err)
		}
		if s, err = ratchet.NewInitiator(r, x.SharedSecret, x.AD, x.PeerRatchetKey, x.Initial); err != nil {
			t.Fatal(err)
		}
		x.Zero()
		d.sessions[peer.cert.Keys] = s
	}
	msg, err := s.Encrypt(r, pt)
	if err != nil {
		t.Fatal(err)
	}
	env, err := seal.Seal(r, d.keys, d.cert, peer.cert.Keys, msg)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// receive opens an envelope and decrypts it, as the client will: the
// sender's certificate must belong to the expected account (the client
// checks this in the transparency log); an existing session is tried
// first; else the message must carry a PQXDH initial message, whose
// one-time prekeys are deleted only once the message decrypts.
func (d *device) receive(env []byte, from *device) ([]byte, error) {
	o, err := seal.Open(d.keys, env)
	if err != nil {
		return nil, err
	}
	if err := o.Sender.VerifyFor(from.handle, from.account.Public()); err != nil {
		return nil, err
	}
	if s := d.sessions[o.Sender.Keys]; s != nil {
		return s.Decrypt(o.Message)
	}
	initial, ok, err := ratchet.InitialMessage(o.Message)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("no session and no initial message")
	}
	m, err := pqxdh.ParseInitialMessage(initial)
	if err != nil {
		return nil, err
	}
	pk := pqxdh.Prekeys{
		Signed: d.prekeys[[2]uint32{uint32(keys.SignedPrekey), m.SignedPrekeyID}],
		KEM:    d.prekeys[[2]uint32{uint32(m.KEMKind), m.KEMPrekeyID}],
	}
	if m.HasOneTime {
		if pk.OneTime = d.prekeys[[2]uint32{uint32(keys.OneTimePrekey), m.OneTimePrekeyID}]; pk.OneTime == nil {
			return nil, errors.New("one-time prekey already used")
		}
	}
	if pk.Signed == nil || pk.KEM == nil {
		return nil, errors.New("unknown prekey")
	}
	x, err := pqxdh.Respond(d.keys, d.cert, o.Sender, m, pk)
	if err != nil {
		return nil, err
	}
	s, err := ratchet.NewResponder(x.SharedSecret, x.AD, [32]byte(pk.Signed.Secret))
	x.Zero()
	if err != nil {
		return nil, err
	}
	pt, err := s.Decrypt(o.Message)
	if err != nil {
		return nil, err
	}
	d.sessions[o.Sender.Keys] = s
	if m.HasOneTime {
		delete(d.prekeys, [2]uint32{uint32(keys.OneTimePrekey), m.OneTimePrekeyID})
	}
	if m.KEMKind == keys.OneTimeKEMPrekey {
		delete(d.prekeys, [2]uint32{uint32(keys.OneTimeKEMPrekey), m.KEMPrekeyID})
	}
	return pt, nil
}

func TestSession(t *testing.T) {
	r := testrand.New("session")
	alice, bob := newDevice(t, r, "alice"), newDevice(t, r, "bob")

	// Alice sends three messages before Bob answers; each carries the
	// initial message. Bob receives the second first.
	var envs [][]byte
	for i := range 3 {
		envs = append(envs, alice.send(t, r, bob, fmt.Appendf(nil, "hello %d", i)))
	}
	for _, i := range []int{1, 0, 2} {
		pt, err := bob.receive(envs[i], alice)
		if err != nil || string(pt) != fmt.Sprintf("hello %d", i) {
			t.Fatalf("message %d: %q, %v", i, pt, err)
		}
	}
	if !alice.sessions[bob.cert.Keys].AttachesInitial() {
		t.Fatal("initiator stopped attaching the initial message before a reply")
	}
	// A replayed first envelope is refused: the session has consumed its
	// key, and, without the session, the one-time prekey it named is gone.
	saved := bob.sessions[alice.cert.Keys].Marshal()
	if _, err := bob.receive(envs[0], alice); !errors.Is(err, ratchet.ErrOldMessage) {
		t.Fatalf("replayed first envelope: %v", err)
	}
	delete(bob.sessions, alice.cert.Keys)
	if _, err := bob.receive(envs[0], alice); err == nil {
		t.Fatal("replayed first envelope started a second session")
	}
	// The session survives being stored and loaded, as the client does.
	restored, err := ratchet.Unmarshal(saved)
	if err != nil {
		t.Fatal(err)
	}
	bob.sessions[alice.cert.Keys] = restored

	// Bob answers; Alice stops attaching the initial message; then many
	// messages both ways, each direction change a DH ratchet step.
	for i := range 20 {
		from, to := bob, alice
		if i%3 == 2 {
			from, to = alice, bob
		}
		want := fmt.Appendf(nil, "%s says %d", from.handle, i)
		pt, err := to.receive(from.send(t, r, to, want), from)
		if err != nil || !bytes.Equal(pt, want) {
			t.Fatalf("round %d: %q, %v", i, pt, err)
		}
	}
	if alice.sessions[bob.cert.Keys].AttachesInitial() {
		t.Fatal("initiator still attaches the initial message after a reply")
	}
}

// TestTamperedEnvelopeDropped flips bytes of envelopes in flight: each is
// refused, and the session goes on with the next message untouched.
func TestTamperedEnvelopeDropped(t *testing.T) {
	r := testrand.New("session tamper")
	alice, bob := newDevice(t, r, "alice"), newDevice(t, r, "bob")
	if _, err := bob.receive(alice.send(t, r, bob, []byte("first")), alice); err != nil {
		t.Fatal(err)
	}
	for i, pos := range []int{0, 1, 40, 300, 600} {
		env := alice.send(t, r, bob, []byte("tampered"))
		env[pos] ^= 0x10
		before := bob.sessions[alice.cert.Keys].Marshal()
		if _, err := bob.receive(env, alice); err == nil {
			t.Fatalf("tampered envelope %d accepted", i)
		}
		if !bytes.Equal(before, bob.sessions[alice.cert.Keys].Marshal()) {
			t.Fatalf("tampered envelope %d changed the session", i)
		}
		want := fmt.Appendf(nil, "after %d", i)
		if pt, err := bob.receive(alice.send(t, r, bob, want), alice); err != nil || !bytes.Equal(pt, want) {
			t.Fatalf("message after tampered envelope %d: %q, %v", i, pt, err)
		}
	}
}

// TestWrongSenderAccount checks that a sender certificate not belonging to
// the account the receiver expects is refused before any session work.
func TestWrongSenderAccount(t *testing.T) {
	r := testrand.New("session wrong sender")
	alice, bob, mallory := newDevice(t, r, "alice"), newDevice(t, r, "bob"), newDevice(t, r, "mallory")
	env := mallory.send(t, r, bob, []byte("I am alice"))
	if _, err := bob.receive(env, alice); !errors.Is(err, keys.ErrWrongAccount) {
		t.Fatalf("got %v, want ErrWrongAccount", err)
	}
	if len(bob.sessions) != 0 || len(bob.prekeys) != 3 {
		t.Fatal("refused envelope changed the receiver's sessions or prekeys")
	}
}
