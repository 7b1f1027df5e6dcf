package storetest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/keyserver/store"
)

// lockedReader lets goroutines of one test share a deterministic reader.
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}

// rand returns the test's deterministic randomness.
func (f *fixture) rand() io.Reader { return f.rnd }

// account is the test's model of an account: its keys and the key set the
// store should hold.
type account struct {
	handle   string
	key      *keys.AccountPrivateKey
	version  uint64
	logIndex int64
	devices  map[uint32]*keys.DevicePrivateKeys
	set      []store.Device // sorted by ID
}

// newAccount makes an account's keys without storing anything.
func (f *fixture) newAccount(handle string) *account {
	f.t.Helper()
	k, err := keys.GenerateAccountKey(f.rand())
	must(f.t, "account key", err)
	return &account{handle: handle, key: k, devices: map[uint32]*keys.DevicePrivateKeys{}}
}

// device makes device id's keys and certificate.
func (f *fixture) device(a *account, id uint32) store.Device {
	f.t.Helper()
	d, err := keys.GenerateDeviceKeys(f.rand())
	must(f.t, "device keys", err)
	c, err := a.key.CertifyDevice(a.handle, keys.DeviceID(id), d.Public(), f.now)
	must(f.t, "certify", err)
	a.devices[id] = d
	return store.Device{ID: id, Certificate: c.Marshal()}
}

// leaf encodes the key set set of a at version like a kt.Entry
// (spec/transparency.md): the store keeps it as opaque bytes.
func leaf(a *account, version uint64, set []store.Device) []byte {
	var b []byte
	b = append(b, 0x01, byte(len(a.handle)))
	b = append(b, a.handle...)
	pub := a.key.Public()
	b = append(b, pub[:]...)
	b = binary.BigEndian.AppendUint64(b, version)
	b = binary.BigEndian.AppendUint16(b, uint16(len(set)))
	for _, d := range set {
		b = binary.BigEndian.AppendUint16(b, uint16(len(d.Certificate)))
		b = append(b, d.Certificate...)
		if d.Revocation == nil {
			b = append(b, 0)
			continue
		}
		b = append(b, 1)
		b = binary.BigEndian.AppendUint16(b, uint16(len(d.Revocation)))
		b = append(b, d.Revocation...)
	}
	return b
}

func withDevice(set []store.Device, d store.Device) []store.Device {
	set = append(slices.Clone(set), d)
	slices.SortFunc(set, func(a, b store.Device) int { return cmpID(a.ID, b.ID) })
	return set
}

func cmpID(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// createUpdate is the update registering a with its first device id.
func (f *fixture) createUpdate(a *account, id uint32) (store.KeySetUpdate, []store.Device) {
	d := f.device(a, id)
	set := []store.Device{d}
	return store.KeySetUpdate{
		Handle: a.handle, AccountKey: a.key.Public(), AddDevice: &d,
		Leaf: leaf(a, 1, set), Now: f.now,
	}, set
}

// addUpdate is the update adding device id to a at its current version.
func (f *fixture) addUpdate(a *account, id uint32) (store.KeySetUpdate, []store.Device) {
	d := f.device(a, id)
	set := withDevice(a.set, d)
	return store.KeySetUpdate{
		Handle: a.handle, ExpectedVersion: a.version, AddDevice: &d,
		Leaf: leaf(a, a.version+1, set), Now: f.now.Add(time.Minute), // Created stays
	}, set
}

// revokeUpdate is the update revoking device id of a.
func (f *fixture) revokeUpdate(a *account, id uint32) (store.KeySetUpdate, []store.Device) {
	f.t.Helper()
	r, err := a.key.RevokeDevice(a.handle, keys.DeviceID(id), f.now)
	must(f.t, "revoke", err)
	rev := store.Device{ID: id, Revocation: r.Marshal()}
	set := slices.Clone(a.set)
	for i := range set {
		if set[i].ID == id {
			set[i].Revocation = rev.Revocation
			rev.Certificate = set[i].Certificate
		}
	}
	return store.KeySetUpdate{
		Handle: a.handle, ExpectedVersion: a.version, Revoke: &rev,
		Leaf: leaf(a, a.version+1, set), Now: f.now.Add(time.Minute), // Created stays
	}, set
}

// apply stores u, which must succeed, and moves the model of a to set.
func (f *fixture) apply(a *account, u store.KeySetUpdate, set []store.Device) int64 {
	f.t.Helper()
	idx, err := f.s.UpdateKeySet(f.ctx, u)
	must(f.t, "UpdateKeySet "+u.Handle, err)
	a.version++
	a.logIndex = idx
	a.set = set
	return idx
}

// create registers a new account handle with device id.
func (f *fixture) create(handle string, id uint32) *account {
	f.t.Helper()
	a := f.newAccount(handle)
	u, set := f.createUpdate(a, id)
	f.apply(a, u, set)
	return a
}

func (f *fixture) addDevice(a *account, id uint32) {
	f.t.Helper()
	u, set := f.addUpdate(a, id)
	f.apply(a, u, set)
}

func (f *fixture) revoke(a *account, id uint32) {
	f.t.Helper()
	u, set := f.revokeUpdate(a, id)
	f.apply(a, u, set)
}

// checkAccount fails unless the store holds exactly the model of a.
func (f *fixture) checkAccount(a *account) {
	f.t.Helper()
	got, err := f.s.Account(f.ctx, a.handle)
	must(f.t, "Account "+a.handle, err)
	if got.Handle != a.handle || got.AccountKey != a.key.Public() || got.Version != a.version ||
		got.LogIndex != a.logIndex || !got.Created.Equal(f.now) {
		f.t.Fatalf("Account %s = {%q %x v%d idx %d %v}, want {%q %x v%d idx %d %v}", a.handle,
			got.Handle, got.AccountKey, got.Version, got.LogIndex, got.Created,
			a.handle, a.key.Public(), a.version, a.logIndex, f.now)
	}
	if err := sameDevices(got.Devices, a.set); err != nil {
		f.t.Fatalf("Account %s: %v", a.handle, err)
	}
}

func sameDevices(got, want []store.Device) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d devices, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.ID != w.ID || !bytes.Equal(g.Certificate, w.Certificate) ||
			!bytes.Equal(g.Revocation, w.Revocation) || (g.Revocation == nil) != (w.Revocation == nil) {
			return fmt.Errorf("device %d: got id %d revoked=%v, want id %d revoked=%v (or bytes differ)",
				i, g.ID, g.Revocation != nil, w.ID, w.Revocation != nil)
		}
	}
	return nil
}

// prekey makes a signed prekey of device id of a.
func (f *fixture) prekey(a *account, id uint32, kind keys.PrekeyKind, pid uint32) store.Prekey {
	f.t.Helper()
	_, p, err := a.devices[id].GeneratePrekey(f.rand(), kind, pid)
	must(f.t, "prekey", err)
	return store.Prekey{ID: pid, Encoded: p.Marshal()}
}

// prekeys makes n prekeys of one kind with ids first, first+1, ...
func (f *fixture) prekeys(a *account, id uint32, kind keys.PrekeyKind, first uint32, n int) []store.Prekey {
	f.t.Helper()
	ps := make([]store.Prekey, n)
	for i := range ps {
		ps[i] = f.prekey(a, id, kind, first+uint32(i))
	}
	return ps
}

// fullUpload is an upload of a signed, a last-resort and n one-time
// prekeys of each kind for device id.
func (f *fixture) fullUpload(a *account, id uint32, n int) store.Upload {
	f.t.Helper()
	s := f.prekey(a, id, keys.SignedPrekey, 1)
	lr := f.prekey(a, id, keys.LastResortKEMPrekey, 1)
	return store.Upload{
		Handle: a.handle, Device: id, Signed: &s, LastResort: &lr,
		OneTime:    f.prekeys(a, id, keys.OneTimePrekey, 1, n),
		OneTimeKEM: f.prekeys(a, id, keys.OneTimeKEMPrekey, 1, n),
		MaxOneTime: max(n, 100),
	}
}
