package kt

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strconv"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// Timestamps (spec/transparency.md §5.3): the log key also signs each
// checkpoint it serves as a C2SP tlog-cosignature/v1 timestamped
// signature, so that a client can tell how old a checkpoint is. The
// key server signs an unchanged tree again periodically, so an honest
// answer is always recent; a client refuses one older than its maximum
// age (spec/client.md §6.1).

// algCosignature is the signed-note algorithm byte of a C2SP
// tlog-cosignature/v1 key (spec/transparency.md §5.3).
const algCosignature = 0x04

// cosignaturePrefix starts the message a timestamped signature signs:
// "cosignature/v1\ntime <t>\n" || checkpoint text (C2SP tlog-cosignature).
const cosignaturePrefix = "cosignature/v1\ntime "

// timestampSigSize is the size of a timestamped signature after the key
// id: the time as a u64 and the Ed25519 signature.
const timestampSigSize = 8 + ed25519.SignatureSize

// timestampMessage is what a timestamped signature at t signs over the
// checkpoint text.
func timestampMessage(t uint64, text []byte) []byte {
	msg := make([]byte, 0, len(cosignaturePrefix)+21+len(text))
	msg = append(msg, cosignaturePrefix...)
	msg = strconv.AppendUint(msg, t, 10)
	msg = append(msg, '\n')
	return append(msg, text...)
}

// NewTimestampSigner returns the note signer that makes the log key's
// timestamped signature of a checkpoint at time t (spec/transparency.md
// §5.3), for SignCheckpoint's extra signers. t is truncated to seconds.
func NewTimestampSigner(origin string, priv ed25519.PrivateKey, t time.Time) (note.Signer, error) {
	if err := checkOrigin(origin); err != nil {
		return nil, err
	}
	if len(priv) != ed25519.PrivateKeySize {
		return nil, malformed("private key length %d", len(priv))
	}
	if t.Unix() < 0 || t.Unix() > maxTimestamp {
		return nil, malformed("timestamp %v out of range", t)
	}
	pub := priv.Public().(ed25519.PublicKey)
	return &timestampSigner{name: origin, hash: keyHash(origin, algCosignature, pub), priv: priv, t: uint64(t.Unix())}, nil
}

// timestampSigner is a note.Signer making the log key's timestamped
// signature at a fixed time.
type timestampSigner struct {
	name string
	hash uint32
	priv ed25519.PrivateKey
	t    uint64
}

func (s *timestampSigner) Name() string    { return s.name }
func (s *timestampSigner) KeyHash() uint32 { return s.hash }
func (s *timestampSigner) Sign(text []byte) ([]byte, error) {
	sig := binary.BigEndian.AppendUint64(make([]byte, 0, timestampSigSize), s.t)
	return append(sig, ed25519.Sign(s.priv, timestampMessage(s.t, text))...), nil
}

// timestampVerifier is the note.Verifier of the log key's timestamped
// signatures. It keeps the time of the last signature it verified.
type timestampVerifier struct {
	name string
	hash uint32
	pub  ed25519.PublicKey
}

func (v *timestampVerifier) Name() string    { return v.name }
func (v *timestampVerifier) KeyHash() uint32 { return v.hash }
func (v *timestampVerifier) Verify(text, sig []byte) bool {
	if len(sig) != timestampSigSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig)
	return t <= maxTimestamp && ed25519.Verify(v.pub, timestampMessage(t, text), sig[8:])
}

// maxTimestamp bounds the time a timestamped signature may carry (the
// year 2^40 seconds lies far beyond any clock), so that it converts to a
// time.Time without overflow.
const maxTimestamp = 1 << 40

// timestampOf returns the time of the verified timestamped signature in
// n, or the zero time if it has none.
func timestampOf(n *note.Note, name string, hash uint32) (time.Time, error) {
	for _, s := range n.Sigs {
		if s.Name != name || s.Hash != hash {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(s.Base64)
		if err != nil || len(raw) != 4+timestampSigSize {
			return time.Time{}, errors.New("kt: timestamp signature of the wrong size")
		}
		return time.Unix(int64(binary.BigEndian.Uint64(raw[4:])), 0).UTC(), nil
	}
	return time.Time{}, nil
}
