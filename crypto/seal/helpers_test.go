package seal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/internal/prim"
	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/internal/testrand"
)

// certTime is the creation time of every test certificate.
var certTime = time.Unix(1767225600, 0)

// device is one certified device of one account.
type device struct {
	account *keys.AccountPrivateKey
	keys    *keys.DevicePrivateKeys
	cert    *keys.DeviceCertificate
}

func newDevice(t testing.TB, label, handle string) *device {
	t.Helper()
	r := testrand.New("seal test " + label)
	account, err := keys.GenerateAccountKey(r)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := keys.GenerateDeviceKeys(r)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := account.CertifyDevice(handle, 1, dev.Public(), certTime)
	if err != nil {
		t.Fatal(err)
	}
	return &device{account, dev, cert}
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func sealOK(t testing.TB, rand io.Reader, from, to *device, msg []byte) []byte {
	t.Helper()
	env, err := Seal(rand, from.keys, from.cert, to.keys.Public(), msg)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// mustRefuseOpen checks that Open refuses env with want, returns nothing,
// leaves env unchanged, and that an ErrDecrypt is the bare sentinel, which
// says nothing about which check failed.
func mustRefuseOpen(t *testing.T, to *device, env []byte, want error) {
	t.Helper()
	before := bytes.Clone(env)
	o, err := Open(to.keys, env)
	if !errors.Is(err, want) || o != nil {
		t.Fatalf("Open = %v, %v; want nil, %v", o, err, want)
	}
	if want == ErrDecrypt && err != ErrDecrypt {
		t.Fatalf("Open error %q carries detail", err)
	}
	if !bytes.Equal(env, before) {
		t.Fatal("Open modified the envelope")
	}
}

// mustRefuseSeal checks that Seal refuses with want, returns nothing, read
// no randomness and left the message unchanged.
func mustRefuseSeal(t *testing.T, from *device, cert *keys.DeviceCertificate, to keys.DevicePublicKeys, msg []byte, want error) {
	t.Helper()
	rand := &countingReader{r: testrand.New("refused seal")}
	before := bytes.Clone(msg)
	env, err := Seal(rand, from.keys, cert, to, msg)
	if err == nil || (want != nil && !errors.Is(err, want)) || env != nil {
		t.Fatalf("Seal = %d bytes, %v; want nil, %v", len(env), err, want)
	}
	if rand.n != 0 {
		t.Fatalf("refused Seal read %d random bytes", rand.n)
	}
	if !bytes.Equal(msg, before) {
		t.Fatal("Seal modified the message")
	}
}

// certBlockOf is the canonical certificate block (spec/seal.md §3.1).
func certBlockOf(cert *keys.DeviceCertificate) []byte {
	b := make([]byte, CertBlockSize)
	copy(b, cert.Marshal())
	return b
}

// msgBlockOf is the canonical message block of an envelope of size bytes
// (spec/seal.md §3.2).
func msgBlockOf(size int, msg []byte) []byte {
	b := make([]byte, size-Overhead)
	binary.BigEndian.PutUint32(b, uint32(len(msg)))
	copy(b[LengthFieldSize:], msg)
	return b
}

// craft seals arbitrary blocks with sealInPlace: the static key, the
// certificate block and the message block are whatever the test says.
func craft(t *testing.T, label string, static []byte, to *device, certBlock, msgBlock []byte) []byte {
	t.Helper()
	if len(certBlock) != CertBlockSize {
		t.Fatalf("certificate block of %d bytes", len(certBlock))
	}
	eph, err := prim.NewX25519Key(testrand.New("craft " + label))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, Overhead+len(msgBlock))
	out[0] = Version
	copy(out[offC1:], certBlock)
	copy(out[offC2:], msgBlock)
	R := to.keys.Public().DH
	if err := sealInPlace(out, eph, static, R[:]); err != nil {
		t.Fatal(err)
	}
	return out
}

// reason returns the check open refused env at, or nil.
func reason(t *testing.T, to *device, env []byte) error {
	t.Helper()
	_, err := open(to.keys, env)
	return err
}

func isMalformed(err error) bool { return errors.Is(err, ErrMalformed) }
