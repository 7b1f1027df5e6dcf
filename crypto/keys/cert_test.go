package keys_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
)

func TestCertificateRoundTrip(t *testing.T) {
	ak, d := newAccount(t, "alice"), newDevice(t, "alice")
	loc := time.FixedZone("x", 5*3600)
	created := time.Date(2026, 3, 4, 5, 6, 7, 999_999_999, loc)
	for _, handle := range []string{"abc", "alice", strings.Repeat("x", keys.MaxHandleLen)} {
		c, err := ak.CertifyDevice(handle, 0xffffffff, d.Public(), created)
		if err != nil {
			t.Fatal(err)
		}
		if !c.Created.Equal(created.Truncate(time.Second)) || c.Created.Location() != time.UTC {
			t.Fatalf("Created = %v, want whole seconds in UTC", c.Created)
		}
		enc := c.Marshal()
		if len(enc) != keys.MaxCertificateSize-keys.MaxHandleLen+len(handle) {
			t.Fatalf("size %d for a %d-byte handle", len(enc), len(handle))
		}
		p, err := keys.ParseDeviceCertificate(enc)
		if err != nil {
			t.Fatal(err)
		}
		if p.Handle != handle || p.AccountKey != ak.Public() || p.Device != 0xffffffff || p.Keys != d.Public() ||
			!p.Created.Equal(c.Created) || p.Signature != c.Signature {
			t.Fatalf("parsed %+v, want %+v", p, c)
		}
		sameBytes(t, "Marshal(Parse(x))", p.Marshal(), enc)
		if err := p.Verify(); err != nil {
			t.Fatal(err)
		}
		if err := p.VerifyFor(handle, ak.Public()); err != nil {
			t.Fatal(err)
		}
	}
	if keys.MaxCertificateSize != 206 {
		t.Fatalf("MaxCertificateSize = %d, want 206 (spec/keys.md §6)", keys.MaxCertificateSize)
	}
}

func TestCertifyDeviceRefusals(t *testing.T) {
	ak, d := newAccount(t, "alice"), newDevice(t, "alice")
	good := d.Public()
	check := func(name string, c *keys.DeviceCertificate, err, target error) {
		t.Helper()
		if c != nil || !errors.Is(err, target) {
			t.Fatalf("%s: got %v, %v; want %v", name, c, err, target)
		}
	}
	c, err := ak.CertifyDevice("Alice", 1, good, testTime)
	check("handle", c, err, keys.ErrInvalidHandle)
	c, err = ak.CertifyDevice("alice", 0, good, testTime)
	check("device 0", c, err, keys.ErrInvalidDeviceID)
	c, err = ak.CertifyDevice("alice", 1, good, time.Unix(-1, 0))
	check("before 1970", c, err, keys.ErrMalformed)
	c, err = ak.CertifyDevice("alice", 1, good, time.Unix(1<<62+1, 0))
	check("after 2^62", c, err, keys.ErrMalformed)
	c, err = ak.CertifyDevice("alice", 1, good, time.Time{})
	check("zero time", c, err, keys.ErrMalformed)
	for _, h := range badX25519 {
		k := good
		copy(k.DH[:], unhex(t, h))
		c, err := ak.CertifyDevice("alice", 1, k, testTime)
		check("DH key "+h, c, err, keys.ErrMalformed)
	}
	for _, h := range badEd25519 {
		k := good
		copy(k.Signing[:], unhex(t, h))
		c, err := ak.CertifyDevice("alice", 1, k, testTime)
		check("signing key "+h, c, err, keys.ErrMalformed)
	}
	if c, err := ak.CertifyDevice("alice", 1, good, time.Unix(1<<62, 0)); err != nil || c.Created.Unix() != 1<<62 {
		t.Fatalf("created = 2^62 refused: %v", err)
	}
}

// certOffsets are the field offsets of spec/keys.md §6 for handle length h.
func certOffsets(h int) (account, device, signing, dh, created, sig int) {
	return 2 + h, 34 + h, 38 + h, 70 + h, 102 + h, 110 + h
}

func TestParseDeviceCertificateRefusals(t *testing.T) {
	f := newFixture(t, "alice")
	enc := f.cert.Marshal()
	refuse := func(name string, in []byte) {
		t.Helper()
		c, err := keys.ParseDeviceCertificate(in)
		if c != nil || !errors.Is(err, keys.ErrMalformed) {
			t.Fatalf("%s: got %v, %v; want ErrMalformed", name, c, err)
		}
	}
	for n := range len(enc) {
		refuse("truncated", enc[:n])
	}
	eachTrailing(enc, func(b byte, in []byte) { refuse("trailing byte", in) })
	for v := range 256 {
		if v != keys.Version {
			in := clone(enc)
			in[0] = byte(v)
			refuse("version", in)
		}
	}
	for _, hlen := range []byte{0, 1, 2, 33, 255} {
		in := clone(enc)
		in[1] = hlen
		refuse("handle length", in)
	}
	account, device, signing, dh, created, _ := certOffsets(len("alice"))
	for _, h := range badEd25519 {
		for _, off := range []int{account, signing} {
			in := clone(enc)
			copy(in[off:], unhex(t, h))
			refuse("Ed25519 key "+h, in)
		}
	}
	for _, h := range badX25519 {
		in := clone(enc)
		copy(in[dh:], unhex(t, h))
		refuse("X25519 key "+h, in)
	}
	in := clone(enc)
	copy(in[device:], []byte{0, 0, 0, 0})
	refuse("device 0", in)
	for _, top := range []byte{0x40, 0x80, 0xff} {
		in := clone(enc)
		copy(in[created:], []byte{top, 0, 0, 0, 0, 0, 0, 1})
		refuse("created out of range", in)
	}
	in = clone(enc)
	in[2] = 'A'
	refuse("upper-case handle", in)
}

// TestCertificateBitFlips flips every bit of a certificate: each flip is
// refused when parsing or when verifying, never accepted.
func TestCertificateBitFlips(t *testing.T) {
	f := newFixture(t, "alice")
	enc := f.cert.Marshal()
	for i := range len(enc) * 8 {
		in := clone(enc)
		in[i/8] ^= 1 << (i % 8)
		c, err := keys.ParseDeviceCertificate(in)
		if err != nil {
			wantErr(t, err, keys.ErrMalformed)
			continue
		}
		err = c.VerifyFor("alice", f.aik)
		if !errors.Is(err, keys.ErrBadSignature) && !errors.Is(err, keys.ErrWrongAccount) {
			t.Fatalf("bit %d: VerifyFor = %v", i, err)
		}
		sameBytes(t, "certificate after a refused VerifyFor", c.Marshal(), in)
	}
}

func TestCertificateVerifyRefusals(t *testing.T) {
	f := newFixture(t, "alice")
	enc := f.cert.Marshal()
	other := newAccount(t, "mallory")
	parse := func(b []byte) *keys.DeviceCertificate {
		c, err := keys.ParseDeviceCertificate(b)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := parse(enc)
	wantErr(t, c.VerifyFor("bob", f.aik), keys.ErrWrongAccount)
	wantErr(t, c.VerifyFor("alice", other.Public()), keys.ErrWrongAccount)
	wantErr(t, c.VerifyFor("alicE", f.aik), keys.ErrWrongAccount)
	sameBytes(t, "certificate after refusals", c.Marshal(), enc)

	// Signed by another account key while naming alice's: bad signature.
	forged, err := other.CertifyDevice("alice", 3, f.device.Public(), testTime)
	if err != nil {
		t.Fatal(err)
	}
	forged.AccountKey = f.aik
	wantErr(t, forged.Verify(), keys.ErrBadSignature)
	wantErr(t, forged.VerifyFor("alice", f.aik), keys.ErrBadSignature)

	// Every field is covered by the signature.
	for name, mutate := range map[string]func(c *keys.DeviceCertificate){
		"device":  func(c *keys.DeviceCertificate) { c.Device++ },
		"created": func(c *keys.DeviceCertificate) { c.Created = c.Created.Add(time.Second) },
		"dh":      func(c *keys.DeviceCertificate) { c.Keys.DH = newDevice(t, "other").Public().DH },
		"signing": func(c *keys.DeviceCertificate) { c.Keys.Signing = newDevice(t, "other").Public().Signing },
		"sig":     func(c *keys.DeviceCertificate) { c.Signature[63] ^= 0x10 },
	} {
		c := parse(enc)
		mutate(c)
		before := c.Marshal()
		wantErr(t, c.VerifyFor("alice", f.aik), keys.ErrBadSignature)
		sameBytes(t, name+": certificate after a refused Verify", c.Marshal(), before)
	}

	// A hand-built certificate with bad fields is refused, not a panic.
	bad := parse(enc)
	bad.Handle = strings.Repeat("a", 300)
	wantErr(t, bad.Verify(), keys.ErrInvalidHandle)
	bad = parse(enc)
	bad.Device = 0
	wantErr(t, bad.Verify(), keys.ErrInvalidDeviceID)
	bad = parse(enc)
	bad.Keys.DH = [32]byte{}
	wantErr(t, bad.Verify(), keys.ErrMalformed)
}
