package kt_test

import (
	"bytes"
	"crypto/ed25519"
	"io"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/kttest"
)

const testOrigin = "example.org/keyserver"

var testTime = time.Unix(1767225600, 0).UTC()

func logKey(t testing.TB, label string) ed25519.PrivateKey {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(testrand.New(label), seed); err != nil {
		t.Fatal(err)
	}
	return ed25519.NewKeyFromSeed(seed)
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

func newVerifier(t testing.TB, origin string, k ed25519.PrivateKey) *kt.Verifier {
	t.Helper()
	vk, err := kt.VerifierKey(origin, pub(k))
	if err != nil {
		t.Fatal(err)
	}
	v, err := kt.NewVerifier(vk)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// account is a test account that builds entries.
type account struct {
	handle string
	key    *keys.AccountPrivateKey
	rand   io.Reader
	entry  kt.Entry
}

func newAccount(t testing.TB, handle string) *account {
	t.Helper()
	r := testrand.New("kt/" + handle)
	k, err := keys.GenerateAccountKey(r)
	if err != nil {
		t.Fatal(err)
	}
	return &account{handle: handle, key: k, rand: r, entry: kt.Entry{Handle: handle, AccountKey: k.Public()}}
}

// addDevice certifies device id and returns the new entry's encoding.
func (a *account) addDevice(t testing.TB, id keys.DeviceID) []byte {
	t.Helper()
	a.addDeviceUnchecked(t, id)
	return a.leaf(t)
}

// addDeviceUnchecked appends a certificate for id without checking the
// entry, so that tests can build refused entries.
func (a *account) addDeviceUnchecked(t testing.TB, id keys.DeviceID) {
	t.Helper()
	d, err := keys.GenerateDeviceKeys(a.rand)
	if err != nil {
		t.Fatal(err)
	}
	c, err := a.key.CertifyDevice(a.handle, id, d.Public(), testTime)
	if err != nil {
		t.Fatal(err)
	}
	a.entry.Devices = append(a.entry.Devices, kt.Device{Certificate: c})
	a.entry.Version++
}

// revoke revokes the i-th device and returns the new entry's encoding.
func (a *account) revoke(t testing.TB, i int) []byte {
	t.Helper()
	a.revokeUnchecked(t, i)
	return a.leaf(t)
}

// revokeUnchecked revokes the i-th device without checking the entry.
func (a *account) revokeUnchecked(t testing.TB, i int) {
	t.Helper()
	r, err := a.key.RevokeDevice(a.handle, a.entry.Devices[i].Certificate.Device, testTime.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	a.entry.Devices[i].Revocation = r
	a.entry.Version++
}

func (a *account) leaf(t testing.TB) []byte {
	t.Helper()
	if err := a.entry.Verify(); err != nil {
		t.Fatalf("test entry does not verify: %v", err)
	}
	return a.entry.Marshal()
}

// buildLog returns a log of n leaves from two accounts taking turns.
func buildLog(t testing.TB, label string, n int) (*kttest.Log, ed25519.PrivateKey) {
	t.Helper()
	k := logKey(t, "kt/log")
	l, err := kttest.New(testOrigin, k)
	if err != nil {
		t.Fatal(err)
	}
	accts := []*account{newAccount(t, "alice-"+label), newAccount(t, "bob-"+label)}
	for i := 0; i < n; i++ {
		a := accts[i%2]
		var leaf []byte
		if len(a.entry.Devices) > 0 && i%3 == 0 && a.entry.Devices[0].Revocation == nil {
			leaf = a.revoke(t, 0)
		} else {
			leaf = a.addDevice(t, keys.DeviceID(len(a.entry.Devices)+1))
		}
		if _, err := l.Append(leaf); err != nil {
			t.Fatal(err)
		}
	}
	return l, k
}

func mustOpen(t testing.TB, v *kt.Verifier, l *kttest.Log, size int64) *kt.Checkpoint {
	t.Helper()
	signed, err := l.Checkpoint(size)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := v.OpenCheckpoint(signed)
	if err != nil {
		t.Fatalf("OpenCheckpoint(size %d): %v", size, err)
	}
	return cp
}

func cloneCheckpoint(cp *kt.Checkpoint) kt.Checkpoint {
	c := *cp
	c.Signed = bytes.Clone(cp.Signed)
	return c
}
