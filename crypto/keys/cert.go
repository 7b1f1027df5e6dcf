package keys

import (
	"encoding/binary"
	"time"

	"github.com/sealpost/sealpost/crypto/internal/prim"
	"golang.org/x/crypto/cryptobyte"
)

// DeviceCertificate binds a device's identity keys to an account: it is
// signed by the account identity key (spec/keys.md §6).
type DeviceCertificate struct {
	Handle     string
	AccountKey AccountPublicKey
	Device     DeviceID
	Keys       DevicePublicKeys
	Created    time.Time // whole seconds, UTC
	Signature  [SignatureSize]byte
}

// MaxCertificateSize is the size of a certificate with a 32-byte handle
// (spec/keys.md §6).
const MaxCertificateSize = certFixedSize + MaxHandleLen

// maxTime is the largest creation or revocation time, in seconds since
// 1970, that a certificate or revocation may carry (spec/keys.md §6, §7).
const maxTime = 1 << 62

// certFixedSize is everything in a certificate but the handle bytes.
const certFixedSize = 1 + 1 + AccountKeySize + 4 + SigningKeySize + DHKeySize + 8 + SignatureSize

// CertifyDevice issues a certificate for device id of account handle,
// signed by the account key (spec/keys.md §6).
func (k *AccountPrivateKey) CertifyDevice(handle string, id DeviceID, dev DevicePublicKeys, created time.Time) (*DeviceCertificate, error) {
	c := &DeviceCertificate{
		Handle:     handle,
		AccountKey: k.Public(),
		Device:     id,
		Keys:       dev,
		Created:    time.Unix(created.Unix(), 0).UTC(),
	}
	if err := c.checkFields(); err != nil {
		return nil, err
	}
	copy(c.Signature[:], prim.Sign(k.priv, LabelDeviceCertificate, c.body()))
	return c, nil
}

// checkFields applies the checks of spec/keys.md §6 that need no signature.
func (c *DeviceCertificate) checkFields() error {
	if err := CheckHandle(c.Handle); err != nil {
		return err
	}
	if c.Device == 0 {
		return ErrInvalidDeviceID
	}
	if err := prim.CheckEd25519Public(c.AccountKey[:]); err != nil {
		return malformed("certificate account key: %v", err)
	}
	if err := prim.CheckEd25519Public(c.Keys.Signing[:]); err != nil {
		return malformed("certificate signing key: %v", err)
	}
	if err := prim.CheckX25519Public(c.Keys.DH[:]); err != nil {
		return malformed("certificate agreement key: %v", err)
	}
	if t := c.Created.Unix(); t < 0 || t > maxTime {
		return malformed("certificate time out of range")
	}
	return nil
}

// body is the signed part of the certificate: every field but the signature.
func (c *DeviceCertificate) body() []byte {
	b := make([]byte, 0, MaxCertificateSize)
	b = append(b, Version, byte(len(c.Handle)))
	b = append(b, c.Handle...)
	b = append(b, c.AccountKey[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(c.Device))
	b = append(b, c.Keys.Signing[:]...)
	b = append(b, c.Keys.DH[:]...)
	return binary.BigEndian.AppendUint64(b, uint64(c.Created.Unix()))
}

// Marshal returns the certificate's canonical encoding (spec/keys.md §6).
func (c *DeviceCertificate) Marshal() []byte {
	return append(c.body(), c.Signature[:]...)
}

// ParseDeviceCertificate parses exactly one certificate. It checks the
// structure and key encodings, not the signature: call Verify or VerifyFor.
func ParseDeviceCertificate(b []byte) (*DeviceCertificate, error) {
	s := cryptobyte.String(b)
	c, err := readDeviceCertificate(&s)
	if err != nil {
		return nil, err
	}
	if !s.Empty() {
		return nil, malformed("trailing bytes after certificate")
	}
	return c, nil
}

// readDeviceCertificate reads one certificate from the front of s.
func readDeviceCertificate(s *cryptobyte.String) (*DeviceCertificate, error) {
	var (
		version, hlen uint8
		handle        []byte
		id            uint32
		created       uint64
		c             DeviceCertificate
	)
	if !s.ReadUint8(&version) || !s.ReadUint8(&hlen) || !s.ReadBytes(&handle, int(hlen)) ||
		!s.CopyBytes(c.AccountKey[:]) || !s.ReadUint32(&id) ||
		!s.CopyBytes(c.Keys.Signing[:]) || !s.CopyBytes(c.Keys.DH[:]) ||
		!s.ReadUint64(&created) || !s.CopyBytes(c.Signature[:]) {
		return nil, malformed("truncated certificate")
	}
	if version != Version {
		return nil, malformed("certificate version %d", version)
	}
	if created > maxTime {
		return nil, malformed("certificate time out of range")
	}
	c.Handle = string(handle)
	c.Device = DeviceID(id)
	c.Created = time.Unix(int64(created), 0).UTC()
	if err := c.checkFields(); err != nil {
		return nil, asMalformed(err)
	}
	return &c, nil
}

// Verify checks the certificate's signature under the account key it names
// (spec/keys.md §6). It does not say whether that key is the account's:
// use VerifyFor with a key learned from the key server's transparency log.
func (c *DeviceCertificate) Verify() error {
	if err := c.checkFields(); err != nil {
		return err
	}
	// checkFields checked the account key's encoding.
	if !prim.VerifyLabeledChecked(c.AccountKey[:], LabelDeviceCertificate, c.body(), c.Signature[:]) {
		return ErrBadSignature
	}
	return nil
}

// VerifyFor checks that the certificate names handle and account key aik,
// and that aik signed it.
func (c *DeviceCertificate) VerifyFor(handle string, aik AccountPublicKey) error {
	if c.Handle != handle || c.AccountKey != aik {
		return ErrWrongAccount
	}
	return c.Verify()
}

// DeviceRevocation withdraws a device from an account; it is signed by the
// account identity key (spec/keys.md §7).
type DeviceRevocation struct {
	Handle     string
	AccountKey AccountPublicKey
	Device     DeviceID
	Revoked    time.Time // whole seconds, UTC
	Signature  [SignatureSize]byte
}

// RevokeDevice signs a revocation of device id (spec/keys.md §7).
func (k *AccountPrivateKey) RevokeDevice(handle string, id DeviceID, at time.Time) (*DeviceRevocation, error) {
	r := &DeviceRevocation{Handle: handle, AccountKey: k.Public(), Device: id, Revoked: time.Unix(at.Unix(), 0).UTC()}
	if err := r.checkFields(); err != nil {
		return nil, err
	}
	copy(r.Signature[:], prim.Sign(k.priv, LabelDeviceRevocation, r.body()))
	return r, nil
}

// SignGroupChange signs the body of a group state change with the account
// key under LabelGroupChange (spec/keys.md §4, spec/groups.md §4.3): the
// bytes client/group's Change.Body returns. The label keeps the signature
// from meaning anything in any other protocol the account key signs.
func (k *AccountPrivateKey) SignGroupChange(body []byte) [SignatureSize]byte {
	return [SignatureSize]byte(prim.Sign(k.priv, LabelGroupChange, body))
}

func (r *DeviceRevocation) checkFields() error {
	if err := CheckHandle(r.Handle); err != nil {
		return err
	}
	if r.Device == 0 {
		return ErrInvalidDeviceID
	}
	if err := prim.CheckEd25519Public(r.AccountKey[:]); err != nil {
		return malformed("revocation account key: %v", err)
	}
	if t := r.Revoked.Unix(); t < 0 || t > maxTime {
		return malformed("revocation time out of range")
	}
	return nil
}

func (r *DeviceRevocation) body() []byte {
	b := make([]byte, 0, 2+len(r.Handle)+AccountKeySize+4+8)
	b = append(b, Version, byte(len(r.Handle)))
	b = append(b, r.Handle...)
	b = append(b, r.AccountKey[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(r.Device))
	return binary.BigEndian.AppendUint64(b, uint64(r.Revoked.Unix()))
}

// Marshal returns the revocation's canonical encoding (spec/keys.md §7).
func (r *DeviceRevocation) Marshal() []byte { return append(r.body(), r.Signature[:]...) }

// ParseDeviceRevocation parses exactly one revocation without checking its
// signature.
func ParseDeviceRevocation(b []byte) (*DeviceRevocation, error) {
	s := cryptobyte.String(b)
	var (
		version, hlen uint8
		handle        []byte
		id            uint32
		at            uint64
		r             DeviceRevocation
	)
	if !s.ReadUint8(&version) || !s.ReadUint8(&hlen) || !s.ReadBytes(&handle, int(hlen)) ||
		!s.CopyBytes(r.AccountKey[:]) || !s.ReadUint32(&id) || !s.ReadUint64(&at) ||
		!s.CopyBytes(r.Signature[:]) {
		return nil, malformed("truncated revocation")
	}
	if !s.Empty() {
		return nil, malformed("trailing bytes after revocation")
	}
	if version != Version {
		return nil, malformed("revocation version %d", version)
	}
	if at > maxTime {
		return nil, malformed("revocation time out of range")
	}
	r.Handle, r.Device, r.Revoked = string(handle), DeviceID(id), time.Unix(int64(at), 0).UTC()
	if err := r.checkFields(); err != nil {
		return nil, asMalformed(err)
	}
	return &r, nil
}

// VerifyFor checks that the revocation names handle and aik and that aik
// signed it.
func (r *DeviceRevocation) VerifyFor(handle string, aik AccountPublicKey) error {
	if err := r.checkFields(); err != nil {
		return err
	}
	if r.Handle != handle || r.AccountKey != aik {
		return ErrWrongAccount
	}
	if !prim.VerifyLabeledChecked(r.AccountKey[:], LabelDeviceRevocation, r.body(), r.Signature[:]) {
		return ErrBadSignature
	}
	return nil
}
