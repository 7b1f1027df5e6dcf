package kt

import (
	"encoding/binary"
	"fmt"

	"github.com/sealpost/sealpost/crypto/keys"
	"golang.org/x/crypto/cryptobyte"
)

// Entry is one log leaf: an account's whole key set after one change
// (spec/transparency.md §2). Version counts the changes: 1 at registration,
// one more for each device added or revoked.
type Entry struct {
	Handle     string
	AccountKey keys.AccountPublicKey
	Version    uint64
	// Devices are all the account's devices, active and revoked, in
	// strictly ascending order of device id.
	Devices []Device
}

// Device is one device of an entry.
type Device struct {
	Certificate *keys.DeviceCertificate
	// Revocation is nil while the device is active.
	Revocation *keys.DeviceRevocation
}

// Marshal returns the entry's encoding (spec/transparency.md §2). It does
// not check the entry: call Verify first. A nil certificate or revocation
// encodes as zero-length bytes, which ParseEntry refuses.
func (e *Entry) Marshal() []byte {
	b := make([]byte, 0, 2+len(e.Handle)+keys.AccountKeySize+8+2+len(e.Devices)*(2+keys.MaxCertificateSize+1+2+keys.MaxCertificateSize))
	b = append(b, Version, byte(len(e.Handle)))
	b = append(b, e.Handle...)
	b = append(b, e.AccountKey[:]...)
	b = binary.BigEndian.AppendUint64(b, e.Version)
	b = binary.BigEndian.AppendUint16(b, uint16(len(e.Devices)))
	for _, d := range e.Devices {
		var cert []byte
		if d.Certificate != nil {
			cert = d.Certificate.Marshal()
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(cert)))
		b = append(b, cert...)
		if d.Revocation == nil {
			b = append(b, 0)
			continue
		}
		rev := d.Revocation.Marshal()
		b = append(b, 1)
		b = binary.BigEndian.AppendUint16(b, uint16(len(rev)))
		b = append(b, rev...)
	}
	return b
}

// ParseEntry parses exactly one entry and checks its structure
// (spec/transparency.md §2.1): version byte, handle, account key encoding,
// key-set version at least 1, 1 to MaxDevices devices in strictly
// ascending id order, each certificate and revocation a canonical encoding
// of its exact length, revocations naming their certificate's device, no
// trailing bytes. It does not check signatures: call Verify.
func ParseEntry(b []byte) (*Entry, error) {
	s := cryptobyte.String(b)
	var (
		version, hlen uint8
		handle, aik   []byte
		e             Entry
		n             uint16
	)
	if !s.ReadUint8(&version) || !s.ReadUint8(&hlen) || !s.ReadBytes(&handle, int(hlen)) ||
		!s.ReadBytes(&aik, keys.AccountKeySize) || !s.ReadUint64(&e.Version) || !s.ReadUint16(&n) {
		return nil, malformed("truncated entry")
	}
	if version != Version {
		return nil, malformed("entry version %d", version)
	}
	e.Handle = string(handle)
	var err error
	if e.AccountKey, err = keys.ParseAccountPublicKey(aik); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if n == 0 || n > MaxDevices {
		return nil, malformed("%d devices not in [1, %d]", n, MaxDevices)
	}
	e.Devices = make([]Device, n)
	for i := range e.Devices {
		var (
			cert, rev []byte
			revoked   uint8
			d         = &e.Devices[i]
		)
		if !s.ReadUint16LengthPrefixed((*cryptobyte.String)(&cert)) || !s.ReadUint8(&revoked) {
			return nil, malformed("truncated device %d", i)
		}
		if d.Certificate, err = keys.ParseDeviceCertificate(cert); err != nil {
			return nil, fmt.Errorf("%w: device %d certificate: %w", ErrMalformed, i, err)
		}
		switch revoked {
		case 0:
		case 1:
			if !s.ReadUint16LengthPrefixed((*cryptobyte.String)(&rev)) {
				return nil, malformed("truncated device %d revocation", i)
			}
			if d.Revocation, err = keys.ParseDeviceRevocation(rev); err != nil {
				return nil, fmt.Errorf("%w: device %d revocation: %w", ErrMalformed, i, err)
			}
		default:
			return nil, malformed("device %d revoked byte %d", i, revoked)
		}
	}
	if !s.Empty() {
		return nil, malformed("trailing bytes after entry")
	}
	if err := e.checkStructure(); err != nil {
		return nil, err
	}
	return &e, nil
}

// checkStructure applies the checks of spec/transparency.md §2.1 that need
// no signature.
func (e *Entry) checkStructure() error {
	if err := keys.CheckHandle(e.Handle); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if e.Version == 0 {
		return malformed("key-set version 0")
	}
	if len(e.Devices) == 0 || len(e.Devices) > MaxDevices {
		return malformed("%d devices not in [1, %d]", len(e.Devices), MaxDevices)
	}
	var prev keys.DeviceID
	for i, d := range e.Devices {
		if d.Certificate == nil {
			return malformed("device %d has no certificate", i)
		}
		id := d.Certificate.Device
		if id <= prev {
			return malformed("device ids not strictly ascending at %d (id %d after %d)", i, id, prev)
		}
		prev = id
		if d.Revocation != nil && d.Revocation.Device != id {
			return malformed("device %d revocation names device %d", id, d.Revocation.Device)
		}
	}
	return nil
}

// Verify checks the entry's structure (as ParseEntry does) and that every
// certificate and revocation names the entry's handle and account key and
// is signed by that key (spec/transparency.md §2.2). Errors wrap
// ErrMalformed or ErrBadSignature and the crypto/keys error.
func (e *Entry) Verify() error {
	if err := e.checkStructure(); err != nil {
		return err
	}
	for _, d := range e.Devices {
		id := d.Certificate.Device
		if err := d.Certificate.VerifyFor(e.Handle, e.AccountKey); err != nil {
			return fmt.Errorf("%w: device %d certificate: %w", ErrBadSignature, id, err)
		}
		if d.Revocation != nil {
			if err := d.Revocation.VerifyFor(e.Handle, e.AccountKey); err != nil {
				return fmt.Errorf("%w: device %d revocation: %w", ErrBadSignature, id, err)
			}
		}
	}
	return nil
}

// Active returns the devices that are not revoked, in id order.
func (e *Entry) Active() []Device {
	var a []Device
	for _, d := range e.Devices {
		if d.Revocation == nil {
			a = append(a, d)
		}
	}
	return a
}
