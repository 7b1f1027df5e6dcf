package seal

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/internal/testrand"
)

// refuse checks that Open refuses env with ErrDecrypt and that open stopped
// at the check the test is about.
func refuse(t *testing.T, to *device, env []byte, why error) {
	t.Helper()
	mustRefuseOpen(t, to, env, ErrDecrypt)
	if got := reason(t, to, env); got != why {
		t.Fatalf("refused at %v, want %v", got, why)
	}
}

func TestOpenStructure(t *testing.T) {
	alice, bob := newDevice(t, "alice", "alice"), newDevice(t, "bob", "bob")
	env := sealOK(t, testrand.New("structure"), alice, bob, make([]byte, 300)) // 1024 bytes

	for name, bad := range map[string][]byte{
		"nil":       nil,
		"empty":     {},
		"truncated": env[:len(env)-1],
		"extended":  append(bytes.Clone(env), 0),
		"header":    env[:offC2],
		"256 bytes": env[:256],
	} {
		t.Run(name, func(t *testing.T) { mustRefuseOpen(t, bob, bad, ErrMalformed) })
	}
	t.Run("version", func(t *testing.T) {
		for _, v := range []byte{0, 2, 0x81, 0xff} {
			bad := bytes.Clone(env)
			bad[0] = v
			mustRefuseOpen(t, bob, bad, ErrMalformed)
		}
	})
	// A valid size that is not this envelope's: the structure passes and
	// the last tag does not.
	t.Run("cut to a smaller bucket", func(t *testing.T) { refuse(t, bob, env[:512], errMsgCipher) })
	t.Run("extended to a larger bucket", func(t *testing.T) {
		refuse(t, bob, append(bytes.Clone(env), make([]byte, 1024)...), errMsgCipher)
	})
	t.Run("nil recipient", func(t *testing.T) {
		for _, k := range []*keys.DevicePrivateKeys{nil, {}} {
			if o, err := Open(k, env); err == nil || o != nil {
				t.Fatalf("Open(%v) = %v, %v", k, o, err)
			}
		}
	})
}

func TestOpenEphemeralKey(t *testing.T) {
	alice, bob := newDevice(t, "alice", "alice"), newDevice(t, "bob", "bob")
	env := sealOK(t, testrand.New("ephemeral"), alice, bob, []byte("hi"))
	for name, E := range map[string][32]byte{
		"zero":           {},
		"one":            {1},
		"order 8":        {0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00},
		"p":              {0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
		"high bit of 9":  {9, 31: 0x80},
		"high bit of E'": [32]byte(append(bytes.Clone(env[offEphemeral:offC1-1]), env[offC1-1]|0x80)),
	} {
		t.Run(name, func(t *testing.T) {
			bad := bytes.Clone(env)
			copy(bad[offEphemeral:], E[:])
			if bytes.Equal(bad, env) {
				t.Skip("E already has this form")
			}
			refuse(t, bob, bad, errEphemeralKey)
		})
	}
}

func TestWrongRecipient(t *testing.T) {
	alice, bob, carol := newDevice(t, "alice", "alice"), newDevice(t, "bob", "bob"), newDevice(t, "carol", "carol")
	env := sealOK(t, testrand.New("wrong recipient"), alice, bob, []byte("for bob"))
	refuse(t, carol, env, errCertCipher)
	// Not even the sender can open it.
	refuse(t, alice, env, errCertCipher)
}

func TestUnrelatedSigner(t *testing.T) {
	alice, bob, mallory := newDevice(t, "alice", "alice"), newDevice(t, "bob", "bob"), newDevice(t, "mallory", "mallory")

	// Mallory certifies her own device keys under her key but writes
	// Alice's account key into the certificate: the signature fails.
	forged, err := mallory.account.CertifyDevice("alice", 1, mallory.keys.Public(), certTime)
	if err != nil {
		t.Fatal(err)
	}
	forged.AccountKey = alice.account.Public()
	env, err := Seal(testrand.New("forged"), mallory.keys, forged, bob.keys.Public(), []byte("I am alice"))
	if err != nil {
		t.Fatal(err)
	}
	refuse(t, bob, env, errCertSig)

	// Signed by her own key and naming it, the certificate is valid: Open
	// accepts, and only the check against the key directory, which the
	// caller must make, tells it is not Alice's.
	own, err := mallory.account.CertifyDevice("alice", 1, mallory.keys.Public(), certTime)
	if err != nil {
		t.Fatal(err)
	}
	env, err = Seal(testrand.New("self-signed"), mallory.keys, own, bob.keys.Public(), []byte("I am alice"))
	if err != nil {
		t.Fatal(err)
	}
	o, err := Open(bob.keys, env)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Sender.VerifyFor("alice", alice.account.Public()); err == nil {
		t.Fatal("a certificate under an unrelated account key passed VerifyFor")
	}
}

func TestSenderLies(t *testing.T) {
	// Mallory holds Alice's certificate (it is public) but not Alice's
	// X25519 key: her envelope carries Alice's certificate and her own
	// static agreement, and the message block does not authenticate.
	alice, bob, mallory := newDevice(t, "alice", "alice"), newDevice(t, "bob", "bob"), newDevice(t, "mallory", "mallory")
	mustRefuseSeal(t, mallory, alice.cert, bob.keys.Public(), []byte("x"), ErrSenderMismatch)
	env := craft(t, "lies", mallory.keys.DH(), bob, certBlockOf(alice.cert), msgBlockOf(512, []byte("I am alice")))
	refuse(t, bob, env, errMsgCipher)
	// The same crafted path with Alice's own key opens: the test above
	// fails for the key, not for the crafting.
	env = craft(t, "honest", alice.keys.DH(), bob, certBlockOf(alice.cert), msgBlockOf(512, []byte("I am alice")))
	if o, err := Open(bob.keys, env); err != nil || string(o.Message) != "I am alice" {
		t.Fatalf("Open = %v", err)
	}
}

func TestBlocks(t *testing.T) {
	alice, bob := newDevice(t, "alice", "alice"), newDevice(t, "bob", "bob")
	msg := []byte("hello bob")
	S := alice.keys.DH()
	good := func() ([]byte, []byte) { return certBlockOf(alice.cert), msgBlockOf(512, msg) }

	t.Run("cert padding", func(t *testing.T) {
		for _, i := range []int{len(alice.cert.Marshal()), CertBlockSize - 1} {
			cb, mb := good()
			cb[i] = 1
			refuse(t, bob, craft(t, "cert padding", S, bob, cb, mb), errCertPadding)
		}
	})
	t.Run("cert handle length", func(t *testing.T) {
		for _, l := range []byte{33, 0xff, 4, 0} {
			cb, mb := good()
			cb[1] = l
			refuse(t, bob, craft(t, "hlen", S, bob, cb, mb), errCertBlock)
		}
	})
	t.Run("cert version", func(t *testing.T) {
		cb, mb := good()
		cb[0] = 2
		refuse(t, bob, craft(t, "cert version", S, bob, cb, mb), errCertBlock)
	})
	t.Run("message padding", func(t *testing.T) {
		for _, i := range []int{LengthFieldSize + len(msg), 512 - Overhead - 1} {
			cb, mb := good()
			mb[i] = 0x80
			refuse(t, bob, craft(t, "msg padding", S, bob, cb, mb), errMsgPadding)
		}
	})
	t.Run("message length", func(t *testing.T) {
		for _, n := range []uint32{512 - Overhead - LengthFieldSize + 1, 1 << 31, 0xffffffff} {
			cb, mb := good()
			binary.BigEndian.PutUint32(mb, n)
			refuse(t, bob, craft(t, "msg length", S, bob, cb, mb), errMsgLength)
		}
	})
	t.Run("message length fills the block", func(t *testing.T) {
		cb, mb := good()
		binary.BigEndian.PutUint32(mb, uint32(len(mb)-LengthFieldSize))
		o, err := Open(bob.keys, craft(t, "full", S, bob, cb, mb))
		if err != nil || len(o.Message) != len(mb)-LengthFieldSize {
			t.Fatalf("Open = %v", err)
		}
	})
	t.Run("larger bucket than needed", func(t *testing.T) {
		cb := certBlockOf(alice.cert)
		o, err := Open(bob.keys, craft(t, "larger", S, bob, cb, msgBlockOf(4096, msg)))
		if err != nil || !bytes.Equal(o.Message, msg) {
			t.Fatalf("Open = %v", err)
		}
	})
}

func TestOpenedDoesNotAlias(t *testing.T) {
	alice, bob := newDevice(t, "alice", "alice"), newDevice(t, "bob", "bob")
	env := sealOK(t, testrand.New("alias"), alice, bob, []byte("hello"))
	o, err := Open(bob.keys, env)
	if err != nil {
		t.Fatal(err)
	}
	clear(env)
	if string(o.Message) != "hello" {
		t.Fatal("Opened.Message aliases the envelope")
	}
	if cap(o.Message) != len(o.Message) {
		t.Fatal("Opened.Message exposes the padding through its capacity")
	}
	if o.Sender.Verify() != nil {
		t.Fatal("sender certificate does not verify")
	}
}
