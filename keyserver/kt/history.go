package kt

import (
	"bytes"
)

// CheckSuccessor checks that next may follow prev as the next entry of the
// same handle in the log (spec/transparency.md §7.3): key-set version one
// more, the same handle and account key, every device of prev kept byte
// for byte, and exactly one change — one device added with an id above
// every earlier id, or one active device revoked. With prev nil, next must
// be a registration: version 1, one active device.
//
// Both entries must already have passed Verify. A failure is ErrSecurity:
// the log holds a history that no account key could have made, or a server
// is showing an older entry than one the caller has seen.
func CheckSuccessor(prev, next *Entry) error {
	if next == nil {
		return security("no entry")
	}
	if prev == nil {
		if next.Version != 1 || len(next.Devices) != 1 || next.Devices[0].Revocation != nil {
			return security("first entry of %q is not a registration (version %d, %d devices)", next.Handle, next.Version, len(next.Devices))
		}
		return nil
	}
	if next.Handle != prev.Handle {
		return security("entries of %q and %q compared", prev.Handle, next.Handle)
	}
	if next.AccountKey != prev.AccountKey {
		return security("account key of %q changed", next.Handle)
	}
	if prev.Version == ^uint64(0) || next.Version != prev.Version+1 {
		return security("key-set version of %q went from %d to %d", next.Handle, prev.Version, next.Version)
	}
	switch len(next.Devices) {
	case len(prev.Devices):
		// Exactly one device newly revoked; everything else unchanged.
		changed := 0
		for i, d := range prev.Devices {
			n := next.Devices[i]
			if !sameCertificate(d, n) {
				return security("device list of %q changed", next.Handle)
			}
			switch {
			case d.Revocation != nil:
				if n.Revocation == nil || !bytes.Equal(d.Revocation.Marshal(), n.Revocation.Marshal()) {
					return security("revocation of device %d of %q changed", d.Certificate.Device, next.Handle)
				}
			case n.Revocation != nil:
				changed++
			}
		}
		if changed != 1 {
			return security("%d devices of %q revoked in one change", changed, next.Handle)
		}
	case len(prev.Devices) + 1:
		// Exactly one device added, after all earlier ones, active.
		for i, d := range prev.Devices {
			n := next.Devices[i]
			if !sameCertificate(d, n) || (d.Revocation == nil) != (n.Revocation == nil) ||
				(d.Revocation != nil && !bytes.Equal(d.Revocation.Marshal(), n.Revocation.Marshal())) {
				return security("device list of %q changed", next.Handle)
			}
		}
		if next.Devices[len(prev.Devices)].Revocation != nil {
			return security("device of %q added already revoked", next.Handle)
		}
	default:
		return security("device count of %q went from %d to %d", next.Handle, len(prev.Devices), len(next.Devices))
	}
	return nil
}

func sameCertificate(a, b Device) bool {
	return a.Certificate != nil && b.Certificate != nil && bytes.Equal(a.Certificate.Marshal(), b.Certificate.Marshal())
}
