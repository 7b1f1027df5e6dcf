package seal

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/sealpost/sealpost/crypto/internal/prim"
	"github.com/sealpost/sealpost/crypto/keys"
)

// Opened is what an envelope carried.
type Opened struct {
	// Sender is the sender device's certificate, its self-signature checked
	// under the account key it names. Whether that key is the account's
	// must still be checked against the key directory (spec/seal.md §5.1).
	Sender *keys.DeviceCertificate
	// Message is the carried message, without padding.
	Message []byte
	// Version is the envelope's version: Version (1) or VersionHybrid (2).
	Version byte
}

// Reasons open refuses an envelope. Open reports every one of them as
// ErrDecrypt; tests use them to see which check fired.
var (
	errEphemeralKey  = errors.New("seal: ephemeral key refused")
	errKEMCiphertext = errors.New("seal: KEM ciphertext refused")
	errCertCipher    = errors.New("seal: certificate block does not authenticate")
	errCertBlock     = errors.New("seal: malformed certificate block")
	errCertPadding   = errors.New("seal: nonzero certificate block padding")
	errCertSig       = errors.New("seal: certificate signature")
	errStaticKey     = errors.New("seal: certified agreement key refused")
	errMsgCipher     = errors.New("seal: message block does not authenticate")
	errMsgLength     = errors.New("seal: message length out of range")
	errMsgPadding    = errors.New("seal: nonzero message block padding")
)

// Open authenticates and decrypts a version 1 envelope for the recipient
// device (spec/seal.md §5). It is OpenHybrid without KEM keys: a version 2
// envelope of a valid size is refused with ErrNoKEMKeys. It refuses an
// envelope whose length is not an envelope size or whose version is
// unknown with ErrMalformed, and every other envelope that fails a check
// with ErrDecrypt, whichever check it was.
//
// On success Opened.Sender has a valid self-signature, but the account key
// it names is only what the envelope claims: the caller must check it
// against the key directory and transparency log (keys.DeviceCertificate
// VerifyFor with the account key learned there) and refuse a revoked device
// (spec/seal.md §5.1).
// Open never modifies envelope.
func Open(recipient *keys.DevicePrivateKeys, envelope []byte) (*Opened, error) {
	return OpenHybrid(recipient, nil, envelope)
}

// OpenHybrid authenticates and decrypts an envelope of either version for
// the recipient device: version 1 as Open does (spec/seal.md §5), version 2
// (spec/seal.md §10.6) with the ML-KEM-768 prekey kemKeys returns for the
// envelope's key id. kemKeys may be nil; a version 2 envelope is then
// refused with ErrNoKEMKeys.
//
// Errors, each with nothing returned: ErrMalformed for a length that is not
// an envelope size (for version 2, also one below MinHybridEnvelopeSize) or
// an unknown version; ErrNoKEMKeys; ErrUnknownKEMKey when kemKeys does not
// know the key id (or returns a key that is not a last-resort KEM prekey
// with that id); the bare ErrDecrypt for every later check. The first three
// depend only on the envelope's public bytes and the recipient's own key
// list. What the caller must still check is as for Open (spec/seal.md
// §5.1). OpenHybrid never modifies envelope.
func OpenHybrid(recipient *keys.DevicePrivateKeys, kemKeys KEMKeys, envelope []byte) (*Opened, error) {
	if recipient == nil || recipient.DH() == nil {
		return nil, errors.New("seal: missing recipient keys")
	}
	// spec/seal.md §5 steps 1-2, §10.6 steps 1-2: structure visible to
	// anyone.
	if !ValidEnvelopeSize(len(envelope)) {
		return nil, fmt.Errorf("%w: length %d is not an envelope size", ErrMalformed, len(envelope))
	}
	var o *Opened
	var err error
	switch envelope[0] {
	case Version:
		o, err = open(recipient, envelope)
	case VersionHybrid:
		if len(envelope) < MinHybridEnvelopeSize {
			return nil, fmt.Errorf("%w: version 2 envelope of %d bytes", ErrMalformed, len(envelope))
		}
		// spec/seal.md §10.6 steps 3-4: the key id names the KEM key.
		if kemKeys == nil {
			return nil, ErrNoKEMKeys
		}
		dk, K, ok := lookupKEM(kemKeys, KeyID(envelope[offKeyID2:offCT2]))
		if !ok {
			return nil, ErrUnknownKEMKey
		}
		o, err = openHybrid(recipient, dk, K, envelope)
	default:
		return nil, fmt.Errorf("%w: version %d", ErrMalformed, envelope[0])
	}
	if err != nil {
		return nil, ErrDecrypt
	}
	return o, nil
}

// open runs spec/seal.md §5 steps 3-10 on a version 1 envelope of a valid
// size, returning the reason it refused.
func open(recipient *keys.DevicePrivateKeys, envelope []byte) (*Opened, error) {
	pub := recipient.Public()
	R := pub.DH[:]
	E := envelope[offEphemeral:offC1]

	// Step 3: eDH; prim.DH refuses a non-canonical or low-order E.
	eDH, err := prim.DH(recipient.DH(), E)
	if err != nil {
		return nil, errEphemeralKey
	}
	defer prim.Zero(eDH)
	okm1, chainKey, k1, n1 := ephemeralKeys(eDH, E, R)
	defer prim.Zero(okm1)
	return openLayers(recipient, envelope, offC1, offC2, chainKey, k1, n1, LabelStatic)
}

// openLayers runs the steps both versions share, from the opening of c1
// (spec/seal.md §5 steps 4-10, §10.6 steps 7-13). c1 is
// envelope[c1Off:c2Off], authenticated with the envelope's bytes before it;
// c2 is the rest, authenticated with every byte before it.
func openLayers(recipient *keys.DevicePrivateKeys, envelope []byte, c1Off, c2Off int, chainKey, k1, n1 []byte, labelStatic string) (*Opened, error) {
	c1 := envelope[c1Off:c2Off]
	// Decrypt c1.
	var certBuf [CertBlockSize]byte
	certBlock, err := prim.AEADOpen(certBuf[:0], k1, n1, c1, envelope[:c1Off])
	if err != nil {
		return nil, errCertCipher
	}
	// Parse the certificate, check the padding and the signature.
	cert, err := parseCertBlock(certBlock)
	if err != nil {
		return nil, err
	}
	if cert.Verify() != nil {
		return nil, errCertSig
	}

	// sDH with the certified agreement key.
	sDH, err := prim.DH(recipient.DH(), cert.Keys.DH[:])
	if err != nil {
		return nil, errStaticKey
	}
	defer prim.Zero(sDH)
	okm2, k2, n2 := staticKeysLabel(chainKey, c1, sDH, labelStatic)
	defer prim.Zero(okm2)

	// Decrypt c2.
	msgBlock, err := prim.AEADOpen(nil, k2, n2, envelope[c2Off:], envelope[:c2Off])
	if err != nil {
		return nil, errMsgCipher
	}
	// Length field and padding.
	msg, err := parseMessageBlock(msgBlock)
	if err != nil {
		return nil, err
	}
	return &Opened{Sender: cert, Message: msg, Version: envelope[0]}, nil
}

// parseCertBlock reads the certificate at the front of the certificate block
// (spec/seal.md §3.1): its length is 174 plus the handle length in byte 1,
// and every byte after it must be zero.
func parseCertBlock(block []byte) (*keys.DeviceCertificate, error) {
	if len(block) != CertBlockSize {
		return nil, errCertBlock
	}
	hlen := int(block[1])
	if hlen > keys.MaxHandleLen {
		return nil, errCertBlock
	}
	n := certFixed + hlen
	cert, err := keys.ParseDeviceCertificate(block[:n])
	if err != nil {
		return nil, errCertBlock
	}
	if !allZero(block[n:]) {
		return nil, errCertPadding
	}
	return cert, nil
}

// parseMessageBlock returns the message in a message block (spec/seal.md
// §3.2): a big-endian uint32 length, that many bytes, then zeros.
func parseMessageBlock(block []byte) ([]byte, error) {
	if len(block) < LengthFieldSize {
		return nil, errMsgLength
	}
	n := uint64(binary.BigEndian.Uint32(block))
	if n > uint64(len(block)-LengthFieldSize) {
		return nil, errMsgLength
	}
	end := LengthFieldSize + int(n)
	if !allZero(block[end:]) {
		return nil, errMsgPadding
	}
	return block[LengthFieldSize:end:end], nil
}
