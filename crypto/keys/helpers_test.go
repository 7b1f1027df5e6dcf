package keys_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/internal/testrand"
)

// testTime is the creation time of the test certificates.
var testTime = time.Unix(1767225600, 0).UTC()

// Public keys the checks of spec/keys.md §2.1 and §2.2 refuse.
var (
	// X25519: the five small-order u-coordinates below p, u = p and
	// u = p + 1 (non-canonical encodings of 0 and 1), and bit 255 set.
	badX25519 = []string{
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"0900000000000000000000000000000000000000000000000000000000000080",
		"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
	}
	// Ed25519: the eight points of small order, their non-canonical
	// encodings with the sign bit set on x = 0, y = p + 3 (a point of
	// large order, not reduced), and a y that is not on the curve.
	badEd25519 = []string{
		"0100000000000000000000000000000000000000000000000000000000000000",
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
		"0000000000000000000000000000000000000000000000000000000000000000",
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
		"0000000000000000000000000000000000000000000000000000000000000080",
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
		"0100000000000000000000000000000000000000000000000000000000000080",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
		"f0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"0200000000000000000000000000000000000000000000000000000000000000",
	}
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newAccount(t testing.TB, label string) *keys.AccountPrivateKey {
	t.Helper()
	k, err := keys.GenerateAccountKey(testrand.New("keys test account " + label))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newDevice(t testing.TB, label string) *keys.DevicePrivateKeys {
	t.Helper()
	d, err := keys.GenerateDeviceKeys(testrand.New("keys test device " + label))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func newPrekey(t testing.TB, d *keys.DevicePrivateKeys, kind keys.PrekeyKind, id uint32) *keys.Prekey {
	t.Helper()
	_, p, err := d.GeneratePrekey(testrand.New("keys test prekey "+kind.String()), kind, id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fixture is one account with one certified device and its prekeys.
type fixture struct {
	account *keys.AccountPrivateKey
	aik     keys.AccountPublicKey
	device  *keys.DevicePrivateKeys
	cert    *keys.DeviceCertificate
	spk     *keys.Prekey
	opk     *keys.Prekey
	pqopk   *keys.Prekey
	pqspk   *keys.Prekey
}

func newFixture(t testing.TB, handle string) *fixture {
	t.Helper()
	f := &fixture{account: newAccount(t, handle), device: newDevice(t, handle)}
	f.aik = f.account.Public()
	var err error
	f.cert, err = f.account.CertifyDevice(handle, 3, f.device.Public(), testTime)
	if err != nil {
		t.Fatal(err)
	}
	f.spk = newPrekey(t, f.device, keys.SignedPrekey, 1)
	f.opk = newPrekey(t, f.device, keys.OneTimePrekey, 100)
	f.pqopk = newPrekey(t, f.device, keys.OneTimeKEMPrekey, 101)
	f.pqspk = newPrekey(t, f.device, keys.LastResortKEMPrekey, 2)
	return f
}

// bundle returns the full bundle (with one-time prekeys) or the exhausted
// one.
func (f *fixture) bundle(withOneTime bool) *keys.Bundle {
	if withOneTime {
		return &keys.Bundle{Certificate: f.cert, SignedPrekey: f.spk, OneTimePrekey: f.opk, KEMPrekey: f.pqopk}
	}
	return &keys.Bundle{Certificate: f.cert, SignedPrekey: f.spk, KEMPrekey: f.pqspk}
}

// wantErr fails unless err is target.
func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
}

// wantBundleErr fails unless err is a *BundleError for part wrapping target.
func wantBundleErr(t *testing.T, err error, part string, target error) {
	t.Helper()
	var be *keys.BundleError
	if !errors.As(err, &be) || be.Part != part || !errors.Is(err, target) {
		t.Fatalf("got error %v, want BundleError{%q, %v}", err, part, target)
	}
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// eachTrailing calls f with enc followed by one more byte, for each byte value.
func eachTrailing(enc []byte, f func(b byte, in []byte)) {
	for v := range 256 {
		f(byte(v), append(clone(enc), byte(v)))
	}
}

// sameBytes fails unless a and b are equal.
func sameBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s\n got %x\nwant %x", what, got, want)
	}
}
