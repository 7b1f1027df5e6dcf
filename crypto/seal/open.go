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
}

// Reasons open refuses an envelope. Open reports every one of them as
// ErrDecrypt; tests use them to see which check fired.
var (
	errEphemeralKey = errors.New("seal: ephemeral key refused")
	errCertCipher   = errors.New("seal: certificate block does not authenticate")
	errCertBlock    = errors.New("seal: malformed certificate block")
	errCertPadding  = errors.New("seal: nonzero certificate block padding")
	errCertSig      = errors.New("seal: certificate signature")
	errStaticKey    = errors.New("seal: certified agreement key refused")
	errMsgCipher    = errors.New("seal: message block does not authenticate")
	errMsgLength    = errors.New("seal: message length out of range")
	errMsgPadding   = errors.New("seal: nonzero message block padding")
)

// Open authenticates and decrypts an envelope for the recipient device
// (spec/seal.md §5). It refuses an envelope whose length is not an envelope
// size or whose version is unknown with ErrMalformed, and every other
// envelope that fails a check with ErrDecrypt, whichever check it was.
//
// On success Opened.Sender has a valid self-signature, but the account key
// it names is only what the envelope claims: the caller must check it
// against the key directory and transparency log (keys.DeviceCertificate
// VerifyFor with the account key learned there) and refuse a revoked device
// (spec/seal.md §5.1).
// Open never modifies envelope.
func Open(recipient *keys.DevicePrivateKeys, envelope []byte) (*Opened, error) {
	if recipient == nil || recipient.DH() == nil {
		return nil, errors.New("seal: missing recipient keys")
	}
	// spec/seal.md §5 steps 1-2: structure visible to anyone.
	if !ValidEnvelopeSize(len(envelope)) {
		return nil, fmt.Errorf("%w: length %d is not an envelope size", ErrMalformed, len(envelope))
	}
	if envelope[0] != Version {
		return nil, fmt.Errorf("%w: version %d", ErrMalformed, envelope[0])
	}
	o, err := open(recipient, envelope)
	if err != nil {
		return nil, ErrDecrypt
	}
	return o, nil
}

// open runs spec/seal.md §5 steps 3-10 on an envelope of a valid size and
// version, returning the reason it refused.
func open(recipient *keys.DevicePrivateKeys, envelope []byte) (*Opened, error) {
	pub := recipient.Public()
	R := pub.DH[:]
	E := envelope[offEphemeral:offC1]
	c1 := envelope[offC1:offC2]

	// Step 3: eDH; prim.DH refuses a non-canonical or low-order E.
	eDH, err := prim.DH(recipient.DH(), E)
	if err != nil {
		return nil, errEphemeralKey
	}
	defer prim.Zero(eDH)
	okm1, chainKey, k1, n1 := ephemeralKeys(eDH, E, R)
	defer prim.Zero(okm1)

	// Step 4: decrypt c1.
	var certBuf [CertBlockSize]byte
	certBlock, err := prim.AEADOpen(certBuf[:0], k1, n1, c1, envelope[:offC1])
	if err != nil {
		return nil, errCertCipher
	}
	// Steps 5-6: parse the certificate, check the padding and the signature.
	cert, err := parseCertBlock(certBlock)
	if err != nil {
		return nil, err
	}
	if cert.Verify() != nil {
		return nil, errCertSig
	}

	// Step 7: sDH with the certified agreement key.
	sDH, err := prim.DH(recipient.DH(), cert.Keys.DH[:])
	if err != nil {
		return nil, errStaticKey
	}
	defer prim.Zero(sDH)
	okm2, k2, n2 := staticKeys(chainKey, c1, sDH)
	defer prim.Zero(okm2)

	// Step 8: decrypt c2.
	msgBlock, err := prim.AEADOpen(nil, k2, n2, envelope[offC2:], envelope[:offC2])
	if err != nil {
		return nil, errMsgCipher
	}
	// Steps 9-10: length field and padding.
	msg, err := parseMessageBlock(msgBlock)
	if err != nil {
		return nil, err
	}
	return &Opened{Sender: cert, Message: msg}, nil
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
