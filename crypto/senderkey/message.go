package senderkey

import "encoding/binary"

// Group message layout, spec/senderkey.md §4.1:
//
//	version      1   0x01
//	group id    32
//	chain id    16
//	iteration    4   big-endian, 0..2^32-2
//	ciphertext ≥16   ChaCha20-Poly1305 ciphertext and tag
//	signature   64   Ed25519, label sealpost/v1/senderkey-signature, over
//	                 every byte before it
//
// The header is bytes 0..53.

// Header is the clear part of a group message: what a receiver looks its
// ReceivingChain up by.
type Header struct {
	GroupID   GroupID
	ChainID   ChainID
	Iteration uint32
}

func appendHeader(dst []byte, h *Header) []byte {
	dst = append(dst, Version)
	dst = append(dst, h.GroupID[:]...)
	dst = append(dst, h.ChainID[:]...)
	return binary.BigEndian.AppendUint32(dst, h.Iteration)
}

// ParseHeader parses msg as a group message (spec/senderkey.md §4.2) and
// returns its header, so that the caller can find the ReceivingChain of
// (GroupID, ChainID). Nothing is authenticated; Decrypt checks everything
// again. It returns ErrMalformed exactly when Decrypt would.
func ParseHeader(msg []byte) (Header, error) {
	if len(msg) < MinMessageSize || msg[0] != Version {
		return Header{}, ErrMalformed
	}
	var h Header
	copy(h.GroupID[:], msg[1:])
	copy(h.ChainID[:], msg[1+GroupIDSize:])
	h.Iteration = binary.BigEndian.Uint32(msg[1+GroupIDSize+ChainIDSize:])
	if h.Iteration > MaxIteration {
		return Header{}, ErrMalformed
	}
	return h, nil
}

// messageAD returns the AEAD associated data of §3.3, header || signing
// public key, appended to dst.
func messageAD(dst, header []byte, signingKey *[KeySize]byte) []byte {
	return append(append(dst, header...), signingKey[:]...)
}

// signedMessage returns label || 0x00 || body (spec/keys.md §2.3) in dst's
// storage.
func signedMessage(dst, body []byte) []byte {
	dst = append(dst[:0], LabelSignature...)
	dst = append(dst, 0)
	return append(dst, body...)
}
