package main

import (
	"encoding/binary"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/internal/vectors"
)

// revocations writes the "revocation" cases of keys.json (spec/keys.md §7):
// a valid revocation and every refusal of parsing and VerifyFor.
func (g *keysGen) revocations() {
	ak, acct := account("alice")
	_, other := account("mallory")
	r := must(ak.RevokeDevice("alice", 2, keysTime.Add(time.Hour))).Marshal()
	base := vectors.KeysRevocationCase{Account: acct, Handle: "alice", DeviceID: 2, Revoked: keysTime.Add(time.Hour).Unix(),
		SignedMessage: signed(keys.LabelDeviceRevocation, r), Revocation: r, Receive: accepted(r, "alice", acct.Public)}
	add := func(id, comment string, rcv vectors.KeysReceive) {
		v := base
		v.Receive = rcv
		g.add("revocation-"+id, comment, "revocation", vectors.KeysCase{Revocation: &v})
	}
	add("valid", "a revocation as issued", base.Receive)
	add("tampered-signature", "a signature that does not verify",
		refused(flip(r, len(r)-keys.SignatureSize), "bit 0 of the first signature byte flipped", "alice", acct.Public, "verify", "", "bad_signature"))
	add("certificate-label", "a signature under another label does not verify",
		refused(resign(acct.Seed, keys.LabelDeviceCertificate, r[:len(r)-keys.SignatureSize]),
			"signed under sealpost/v1/device-certificate instead of sealpost/v1/device-revocation", "alice", acct.Public, "verify", "", "bad_signature"))
	mk := must(keys.NewAccountPrivateKey(other.Seed))
	rcv := refused(must(mk.RevokeDevice("alice", 2, keysTime.Add(time.Hour))).Marshal(),
		"issued and signed by another account's key (mutation_seed) for the same handle, device and time",
		"alice", acct.Public, "verify", "", "wrong_account")
	rcv.MutationSeed = other.Seed
	add("other-account", "a revocation signed by another account's key, checked against the account's key", rcv)
	rcv = refused(resign(other.Seed, keys.LabelDeviceRevocation, r[:len(r)-keys.SignatureSize]),
		"signature replaced by another account's (mutation_seed) over the same body, which still names alice's key",
		"alice", acct.Public, "verify", "", "bad_signature")
	rcv.MutationSeed = other.Seed
	add("foreign-signature", "the body names the account's key but another account signed it", rcv)
	add("wrong-handle", "the revocation is checked for another handle",
		refused(r, "verified for the handle \"bob\"", "bob", acct.Public, "verify", "", "wrong_account"))
	re := func(off int, b []byte) []byte { return resign(acct.Seed, keys.LabelDeviceRevocation, edit(r, off, b)) }
	var revoked [8]byte
	binary.BigEndian.PutUint64(revoked[:], 1<<62+1)
	const h = 5 // len("alice")
	for _, m := range []struct {
		id, comment, mutation string
		input                 []byte
	}{
		{"device-id-zero", "device id 0 is never valid", "device id set to 0 and re-signed", re(2+h+32, []byte{0, 0, 0, 0})},
		{"wrong-version", "version byte 2", "version set to 0x02 and re-signed", re(0, []byte{2})},
		{"invalid-handle", "upper-case handle", "handle set to \"Alice\" and re-signed", re(2, []byte("A"))},
		{"handle-length-too-long", "handle length byte larger than the rest allows", "h set to 0xff", cat(edit(r, 1, []byte{0xff}), r[len(r)-keys.SignatureSize:])},
		{"revoked-out-of-range", "revocation time above 2^62", "revoked set to 2^62+1 and re-signed", re(2+h+36, revoked[:])},
		{"noncanonical-account-key", "Ed25519 account key with y = p + 3", "account key set to " + ed25519NotReduced + " and re-signed",
			re(2+h, unhex(ed25519NotReduced))},
		{"small-order-account-key", "Ed25519 account key of order 8", "account key set to " + ed25519SmallOrder + " and re-signed",
			re(2+h, unhex(ed25519SmallOrder))},
		{"truncated", "one byte short", "last byte removed", r[:len(r)-1]},
		{"empty", "no bytes", "all bytes removed", []byte{}},
		{"trailing-byte", "one byte too many", "0x00 appended", cat(r, []byte{0})},
	} {
		add(m.id, m.comment, refused(m.input, m.mutation, "alice", acct.Public, "parse", "", "malformed"))
	}
}
