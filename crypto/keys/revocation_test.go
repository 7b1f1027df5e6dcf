package keys_test

import (
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
)

func TestRevocationRoundTrip(t *testing.T) {
	ak := newAccount(t, "alice")
	r, err := ak.RevokeDevice("alice", 9, testTime.Add(1500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if !r.Revoked.Equal(testTime.Add(time.Second)) || r.Revoked.Location() != time.UTC {
		t.Fatalf("Revoked = %v", r.Revoked)
	}
	enc := r.Marshal()
	if len(enc) != 2+5+32+4+8+64 {
		t.Fatalf("size %d", len(enc))
	}
	p, err := keys.ParseDeviceRevocation(enc)
	if err != nil {
		t.Fatal(err)
	}
	if p.Handle != "alice" || p.AccountKey != ak.Public() || p.Device != 9 || !p.Revoked.Equal(r.Revoked) {
		t.Fatalf("parsed %+v", p)
	}
	sameBytes(t, "Marshal(Parse(x))", p.Marshal(), enc)
	if err := p.VerifyFor("alice", ak.Public()); err != nil {
		t.Fatal(err)
	}
}

func TestRevokeDeviceRefusals(t *testing.T) {
	ak := newAccount(t, "alice")
	for name, c := range map[string]struct {
		handle string
		id     keys.DeviceID
		at     time.Time
		err    error
	}{
		"handle":      {"a", 1, testTime, keys.ErrInvalidHandle},
		"device 0":    {"alice", 0, testTime, keys.ErrInvalidDeviceID},
		"before 1970": {"alice", 1, time.Unix(-5, 0), keys.ErrMalformed},
		"after 2^62":  {"alice", 1, time.Unix(1<<62+1, 0), keys.ErrMalformed},
	} {
		r, err := ak.RevokeDevice(c.handle, c.id, c.at)
		if r != nil || !errors.Is(err, c.err) {
			t.Errorf("%s: got %v, %v; want %v", name, r, err, c.err)
		}
	}
}

func TestParseDeviceRevocationRefusals(t *testing.T) {
	ak := newAccount(t, "alice")
	r, err := ak.RevokeDevice("alice", 9, testTime)
	if err != nil {
		t.Fatal(err)
	}
	enc := r.Marshal()
	refuse := func(name string, in []byte) {
		t.Helper()
		r, err := keys.ParseDeviceRevocation(in)
		if r != nil || !errors.Is(err, keys.ErrMalformed) {
			t.Fatalf("%s: got %v, %v; want ErrMalformed", name, r, err)
		}
	}
	for n := range len(enc) {
		refuse("truncated", enc[:n])
	}
	eachTrailing(enc, func(_ byte, in []byte) { refuse("trailing byte", in) })
	for v := range 256 {
		if v != keys.Version {
			in := clone(enc)
			in[0] = byte(v)
			refuse("version", in)
		}
	}
	for _, h := range badEd25519 {
		in := clone(enc)
		copy(in[7:], unhex(t, h))
		refuse("account key "+h, in)
	}
	in := clone(enc)
	copy(in[39:], []byte{0, 0, 0, 0})
	refuse("device 0", in)
	in = clone(enc)
	in[43] = 0x80
	refuse("time out of range", in)

	// Every bit flip is refused at parse or at VerifyFor.
	for i := range len(enc) * 8 {
		in := clone(enc)
		in[i/8] ^= 1 << (i % 8)
		p, err := keys.ParseDeviceRevocation(in)
		if err != nil {
			wantErr(t, err, keys.ErrMalformed)
			continue
		}
		err = p.VerifyFor("alice", ak.Public())
		if !errors.Is(err, keys.ErrBadSignature) && !errors.Is(err, keys.ErrWrongAccount) {
			t.Fatalf("bit %d: VerifyFor = %v", i, err)
		}
	}
}

func TestRevocationVerifyRefusals(t *testing.T) {
	ak, other := newAccount(t, "alice"), newAccount(t, "mallory")
	r, err := ak.RevokeDevice("alice", 9, testTime)
	if err != nil {
		t.Fatal(err)
	}
	enc := r.Marshal()
	wantErr(t, r.VerifyFor("bob", ak.Public()), keys.ErrWrongAccount)
	wantErr(t, r.VerifyFor("alice", other.Public()), keys.ErrWrongAccount)
	r.Device = 10
	wantErr(t, r.VerifyFor("alice", ak.Public()), keys.ErrBadSignature)
	r.Device = 9
	sameBytes(t, "revocation after refusals", r.Marshal(), enc)

	// The same body signed under another label does not verify.
	for _, label := range []string{keys.LabelDeviceCertificate, keys.LabelPrekey, keys.LabelDeviceRevocation + "x", ""} {
		forged := *r
		msg := append([]byte(label+"\x00"), enc[:len(enc)-keys.SignatureSize]...)
		copy(forged.Signature[:], ed25519.Sign(ed25519.NewKeyFromSeed(ak.Seed()), msg))
		wantErr(t, forged.VerifyFor("alice", ak.Public()), keys.ErrBadSignature)
	}
	msg := append([]byte(keys.LabelDeviceRevocation+"\x00"), enc[:len(enc)-keys.SignatureSize]...)
	copy(r.Signature[:], ed25519.Sign(ed25519.NewKeyFromSeed(ak.Seed()), msg))
	if err := r.VerifyFor("alice", ak.Public()); err != nil {
		t.Fatalf("re-signed under the right label: %v", err)
	}
}
