package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/sealpost/sealpost/crypto/pqxdh"
	"github.com/sealpost/sealpost/internal/vectors"
)

// pqxdhRefusals derives from the initial message im the messages a
// responder must refuse (spec/pqxdh.md §4 and §3.2): every field cut short
// or too long, every bad value of every fixed field, every refused X25519
// key in both key fields, and prekey ids the responder does not hold. Each
// is checked here against package pqxdh.
func pqxdhRefusals(im []byte, oneTime bool, bob, alice *vectorDevice, pk pqxdh.Prekeys) ([]vectors.PQXDHRefusal, error) {
	// Offsets of spec/pqxdh.md §4.
	const oIK, oEK, oSPK, oHas = 1, 33, 65, 69
	oKind := oHas + 1
	if oneTime {
		oKind += 4
	}
	oKEMID, oCT := oKind+1, oKind+5
	set := func(off int, b ...byte) []byte {
		m := bytes.Clone(im)
		copy(m[off:], b)
		return m
	}
	u32 := func(off int, delta uint32) []byte {
		m := bytes.Clone(im)
		binary.BigEndian.PutUint32(m[off:], binary.BigEndian.Uint32(m[off:])+delta)
		return m
	}
	var out []vectors.PQXDHRefusal
	add := func(comment string, m []byte, stage, err string) {
		out = append(out, vectors.PQXDHRefusal{Comment: comment, InitialMessage: m, Stage: stage, Error: err})
	}
	add("empty", []byte{}, "parse", "malformed")
	for _, c := range []struct {
		name string
		end  int
	}{{"version", 1}, {"identity key", oEK}, {"ephemeral key", oSPK}, {"signed prekey id", oHas},
		{"presence byte", oHas + 1}, {"KEM kind", oKind + 1}, {"KEM prekey id", oCT}} {
		add("cut after the "+c.name, bytes.Clone(im[:c.end]), "parse", "malformed")
		if c.end > 1 {
			add("cut one byte short inside or at the end of the "+c.name, bytes.Clone(im[:c.end-1]), "parse", "malformed")
		}
	}
	if oneTime {
		add("cut inside the one-time prekey id", bytes.Clone(im[:oHas+3]), "parse", "malformed")
	}
	add("ML-KEM ciphertext of 1087 bytes", bytes.Clone(im[:len(im)-1]), "parse", "malformed")
	add("ML-KEM ciphertext of 1089 bytes (a trailing byte)", cat(im, []byte{0}), "parse", "malformed")
	add("ML-KEM ciphertext of 768 bytes (the length of an ML-KEM-512 ciphertext)", bytes.Clone(im[:oCT+768]), "parse", "malformed")
	add("version 0x00", set(0, 0), "parse", "malformed")
	add("version 0x02", set(0, 2), "parse", "malformed")
	add("presence byte 2", set(oHas, 2), "parse", "malformed")
	if oneTime {
		add("presence byte 0 with the one-time prekey id still present: 4 bytes too many", set(oHas, 0), "parse", "malformed")
	} else {
		add("presence byte 1 without a one-time prekey id: 4 bytes short", set(oHas, 1), "parse", "malformed")
	}
	for _, k := range []byte{0, 1, 2, 5, 0xff} {
		add(fmt.Sprintf("KEM prekey kind %d, not an ML-KEM kind", k), set(oKind, k), "parse", "malformed")
	}
	for _, f := range []struct {
		name string
		off  int
	}{{"identity key", oIK}, {"ephemeral key", oEK}} {
		for _, k := range []struct{ name, hex string }{
			{"u = 0 (low order)", "0000000000000000000000000000000000000000000000000000000000000000"},
			{"u = 1 (low order)", "0100000000000000000000000000000000000000000000000000000000000000"},
			{"a point of order 8", x25519LowOrder},
			{"the other point of order 8", "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"},
			{"u = p − 1 (low order)", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"},
			{"u = p (not reduced)", "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"},
			{"u = p + 1 (not reduced)", x25519NotReduced},
			{"u = 9 with bit 255 set", x25519HighBit},
		} {
			add(f.name+" replaced by "+k.name, set(f.off, unhex(k.hex)...), "parse", "malformed")
		}
	}
	bobPub := bob.device.Public()
	add("identity key replaced by the responder's own: not the initiator certificate's key", set(oIK, bobPub.DH[:]...),
		"respond", "identity_mismatch")
	add("signed prekey id the responder does not hold (id + 1)", u32(oSPK, 1), "respond", "prekey_mismatch")
	if oneTime {
		add("one-time prekey id the responder does not hold (id + 1)", u32(oHas+1, 1), "respond", "prekey_mismatch")
		add("one-time prekey left out (presence byte 0, id removed): the responder was given one", cat(set(oHas, 0)[:oHas+1], im[oHas+5:]),
			"respond", "prekey_mismatch")
		add("KEM prekey kind 3 (last resort) where the one-time KEM prekey was used", set(oKind, 3), "respond", "prekey_mismatch")
	} else {
		add("KEM prekey kind 4 (one-time) where the last-resort KEM prekey was used", set(oKind, 4), "respond", "prekey_mismatch")
	}
	add("KEM prekey id the responder does not hold (id + 1)", u32(oKEMID, 1), "respond", "prekey_mismatch")

	for _, r := range out {
		err := pqxdhRespond(r.InitialMessage, bob, alice, pk)
		if got := pqxdhErrorName(err); got != r.Stage+"/"+r.Error {
			return nil, fmt.Errorf("refusal %q: got %s (%v)", r.Comment, got, err)
		}
	}
	return out, nil
}

// pqxdhRespond parses m and runs the responder on it.
func pqxdhRespond(m []byte, bob, alice *vectorDevice, pk pqxdh.Prekeys) error {
	pm, err := pqxdh.ParseInitialMessage(m)
	if err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	if _, err := pqxdh.Respond(bob.device, bob.cert, alice.cert, pm, pk); err != nil {
		return fmt.Errorf("respond: %w", err)
	}
	return nil
}

func pqxdhErrorName(err error) string {
	if err == nil {
		return "accepted"
	}
	stage := "respond"
	if bytes.HasPrefix([]byte(err.Error()), []byte("parse: ")) {
		stage = "parse"
	}
	switch {
	case errors.Is(err, pqxdh.ErrMalformed):
		return stage + "/malformed"
	case errors.Is(err, pqxdh.ErrIdentityMismatch):
		return stage + "/identity_mismatch"
	case errors.Is(err, pqxdh.ErrPrekeyMismatch):
		return stage + "/prekey_mismatch"
	}
	return stage + "/" + err.Error()
}
