package kt_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/keyserver/kt"
)

func TestEntryRoundTrip(t *testing.T) {
	a := newAccount(t, "alice")
	a.addDevice(t, 3)
	a.addDevice(t, 7)
	a.addDevice(t, 1<<31)
	leaf := a.revoke(t, 1)
	e, err := kt.ParseEntry(leaf)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Verify(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e.Marshal(), leaf) {
		t.Fatal("Marshal(ParseEntry(leaf)) != leaf")
	}
	if e.Handle != "alice" || e.Version != 4 || len(e.Devices) != 3 || e.AccountKey != a.key.Public() {
		t.Fatalf("parsed %+v", e)
	}
	if act := e.Active(); len(act) != 2 || act[0].Certificate.Device != 3 || act[1].Certificate.Device != 1<<31 {
		t.Fatalf("Active = %v", act)
	}
	// The layout of spec/transparency.md §2: the header.
	if leaf[0] != kt.Version || leaf[1] != 5 || string(leaf[2:7]) != "alice" ||
		binary.BigEndian.Uint64(leaf[39:47]) != 4 || binary.BigEndian.Uint16(leaf[47:49]) != 3 {
		t.Fatalf("header bytes %x", leaf[:49])
	}
}

// deviceCountOffset returns the offset of the device count in a leaf whose
// handle has length hlen.
func deviceCountOffset(hlen int) int { return 2 + hlen + 32 + 8 }

func TestParseEntryRefuses(t *testing.T) {
	a := newAccount(t, "alice")
	a.addDevice(t, 1)
	a.addDevice(t, 2)
	good := a.revoke(t, 0)
	dc := deviceCountOffset(len("alice"))
	cert0Len := int(binary.BigEndian.Uint16(good[dc+2:]))
	rev0 := dc + 2 + 2 + cert0Len // first device's revoked byte

	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	swapped := newAccount(t, "carol")
	swapped.addDeviceUnchecked(t, 5)
	swapped.addDeviceUnchecked(t, 4)
	swappedLeaf := swapped.entry.Marshal()
	dup := newAccount(t, "dave")
	dup.addDeviceUnchecked(t, 4)
	dup.addDeviceUnchecked(t, 4)
	dupLeaf := dup.entry.Marshal()
	mismatch := newAccount(t, "erin")
	mismatch.addDevice(t, 1)
	mismatch.addDevice(t, 2)
	mismatch.revoke(t, 1)
	mismatch.entry.Devices[0].Revocation = mismatch.entry.Devices[1].Revocation
	mismatchLeaf := mismatch.entry.Marshal()

	cases := map[string][]byte{
		"empty":             nil,
		"version 2":         mutate(func(b []byte) []byte { b[0] = 2; return b }),
		"truncated":         good[:len(good)-1],
		"trailing byte":     append(bytes.Clone(good), 0),
		"handle upper case": mutate(func(b []byte) []byte { b[2] = 'A'; return b }),
		"key-set version 0": mutate(func(b []byte) []byte { binary.BigEndian.PutUint64(b[dc-8:], 0); return b }),
		"zero devices": func() []byte {
			b := bytes.Clone(good[:dc+2])
			binary.BigEndian.PutUint16(b[dc:], 0)
			return b
		}(),
		"device count too large":   mutate(func(b []byte) []byte { binary.BigEndian.PutUint16(b[dc:], kt.MaxDevices+1); return b }),
		"device count past end":    mutate(func(b []byte) []byte { binary.BigEndian.PutUint16(b[dc:], 3); return b }),
		"revoked byte 2":           mutate(func(b []byte) []byte { b[rev0] = 2; return b }),
		"revoked byte 0 with data": mutate(func(b []byte) []byte { b[rev0] = 0; return b }),
		"cert length short":        mutate(func(b []byte) []byte { binary.BigEndian.PutUint16(b[dc+2:], uint16(cert0Len-1)); return b }),
		"ids descending":           swappedLeaf,
		"ids duplicate":            dupLeaf,
		"revocation of another id": mismatchLeaf,
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			saved := bytes.Clone(in)
			e, err := kt.ParseEntry(in)
			if !errors.Is(err, kt.ErrMalformed) || e != nil {
				t.Fatalf("ParseEntry = %v, %v; want ErrMalformed", e, err)
			}
			if !bytes.Equal(in, saved) {
				t.Fatal("ParseEntry changed its input")
			}
		})
	}
}

func TestEntryVerifyRefuses(t *testing.T) {
	a := newAccount(t, "alice")
	a.addDevice(t, 1)
	a.addDevice(t, 2)
	a.revoke(t, 1)
	mallory := newAccount(t, "mallory")
	mallory.addDevice(t, 3)

	check := func(name string, e kt.Entry, sentinel, detail error) {
		t.Run(name, func(t *testing.T) {
			before := e.Marshal()
			err := e.Verify()
			if !errors.Is(err, sentinel) || (detail != nil && !errors.Is(err, detail)) {
				t.Fatalf("Verify = %v; want %v and %v", err, sentinel, detail)
			}
			if !bytes.Equal(e.Marshal(), before) {
				t.Fatal("Verify changed the entry")
			}
		})
	}
	withDevices := func(ds ...kt.Device) kt.Entry {
		e := a.entry
		e.Devices = ds
		return e
	}
	d0, d1 := a.entry.Devices[0], a.entry.Devices[1]

	foreign := mallory.entry.Devices[0]
	check("certificate of another account", withDevices(d0, foreign), kt.ErrBadSignature, keys.ErrWrongAccount)
	otherKey := a.entry
	otherKey.AccountKey = mallory.key.Public()
	check("entry names another account key", otherKey, kt.ErrBadSignature, keys.ErrWrongAccount)

	badSig := *d0.Certificate
	badSig.Signature[0] ^= 1
	check("certificate signature flipped", withDevices(kt.Device{Certificate: &badSig}, d1), kt.ErrBadSignature, keys.ErrBadSignature)
	badRev := *d1.Revocation
	badRev.Signature[63] ^= 0x80
	check("revocation signature flipped", withDevices(d0, kt.Device{Certificate: d1.Certificate, Revocation: &badRev}), kt.ErrBadSignature, keys.ErrBadSignature)

	check("no devices", withDevices(), kt.ErrMalformed, nil)
	check("nil certificate", withDevices(d0, kt.Device{}), kt.ErrMalformed, nil)
	check("unsorted", withDevices(d1, d0), kt.ErrMalformed, nil)
	check("revocation of another device", withDevices(kt.Device{Certificate: d0.Certificate, Revocation: d1.Revocation}, d1), kt.ErrMalformed, nil)
	v0 := a.entry
	v0.Version = 0
	check("version 0", v0, kt.ErrMalformed, nil)
	bad := a.entry
	bad.Handle = "Alice"
	check("invalid handle", bad, kt.ErrMalformed, keys.ErrInvalidHandle)
	many := make([]kt.Device, kt.MaxDevices+1)
	for i := range many {
		c := *d0.Certificate
		c.Device = keys.DeviceID(i + 1)
		many[i] = kt.Device{Certificate: &c}
	}
	check("too many devices", withDevices(many...), kt.ErrMalformed, nil)
}

// TestEntryMaxDevices checks that an entry of exactly MaxDevices devices,
// all revoked, with a 32-byte handle round-trips.
func TestEntryMaxDevices(t *testing.T) {
	a := newAccount(t, "abcdefghijklmnopqrstuvwxyz012345")
	for i := 1; i <= kt.MaxDevices; i++ {
		a.addDeviceUnchecked(t, keys.DeviceID(i))
	}
	for i := 0; i < kt.MaxDevices; i++ {
		a.revokeUnchecked(t, i)
	}
	leaf := a.leaf(t)
	e, err := kt.ParseEntry(leaf)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Verify(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e.Marshal(), leaf) || e.Version != 2*kt.MaxDevices {
		t.Fatal("round trip")
	}
	t.Logf("largest entry: %d bytes", len(leaf))
}

func TestMarshalNilDoesNotPanic(t *testing.T) {
	e := kt.Entry{Devices: []kt.Device{{}}}
	if _, err := kt.ParseEntry(e.Marshal()); !errors.Is(err, kt.ErrMalformed) {
		t.Fatalf("ParseEntry(Marshal(nil certificate)) = %v", err)
	}
}
