package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/internal/vectors"
)

func init() { register("keys.json", genKeys) }

// keysTime is the creation time of every certificate: 2026-01-01T00:00:00Z.
var keysTime = time.Unix(1767225600, 0).UTC()

// Replacement public keys for the refusal cases (spec/keys.md §2.1, §2.2).
var (
	x25519HighBit     = "0900000000000000000000000000000000000000000000000000000000000080" // u = 9 with bit 255 set
	x25519NotReduced  = "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f" // u = p + 1
	x25519LowOrder    = "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"
	ed25519NotReduced = "f0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f" // y = p + 3, a point of large order
	ed25519SmallOrder = "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a" // order 8
)

// keysGen collects cases. Its helpers panic on the errors that cannot
// happen with the fixed inputs; genKeys turns a panic into an error.
type keysGen struct{ cases []vectors.KeysCase }

func genKeys() (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("keys: %v", r)
		}
	}()
	var g keysGen
	g.certificates()
	g.revocations()
	g.prekeys()
	g.bundles()
	g.safetyNumbers()
	g.ed25519Cases()
	g.x25519Cases()
	return encode(&vectors.File[vectors.KeysCase]{
		Description: "Sealpost identity keys: device certificates, revocations, prekeys, bundles, safety numbers, " +
			"and the Ed25519 and X25519 edge cases of the primitives. " +
			"Every secret is recorded; receive.input is what a receiver parses and verifies against verify_handle and verify_key.",
		Spec:  "spec/keys.md",
		Cases: g.cases,
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func unhex(s string) []byte { return must(hex.DecodeString(s)) }

func account(label string) (*keys.AccountPrivateKey, vectors.KeysAccount) {
	k := must(keys.GenerateAccountKey(testrand.New("keys.json account " + label)))
	pub := k.Public()
	return k, vectors.KeysAccount{Seed: k.Seed(), Public: pub[:]}
}

func device(label string) (*keys.DevicePrivateKeys, vectors.KeysDevice) {
	d := must(keys.GenerateDeviceKeys(testrand.New("keys.json device " + label)))
	pub := d.Public()
	return d, vectors.KeysDevice{SigningSeed: d.SigningSeed(), DHPrivate: d.DHPrivate(),
		SigningPublic: pub.Signing[:], DHPublic: pub.DH[:]}
}

// signed returns label || 0x00 || body of an encoding ending in a signature.
func signed(label string, enc []byte) []byte {
	m := append([]byte(label), 0)
	return append(m, enc[:len(enc)-keys.SignatureSize]...)
}

// resign replaces the body of enc by body and signs it again with seed, so
// that only the change under test can make a receiver refuse it.
func resign(seed []byte, label string, body []byte) []byte {
	sig := ed25519.Sign(ed25519.NewKeyFromSeed(seed), append(append([]byte(label), 0), body...))
	return append(append([]byte(nil), body...), sig...)
}

// edit returns a copy of the body of enc (enc without its signature) with
// b written at off.
func edit(enc []byte, off int, b []byte) []byte {
	body := append([]byte(nil), enc[:len(enc)-keys.SignatureSize]...)
	copy(body[off:], b)
	return body
}

// flip returns a copy of enc with bit 0 of byte i flipped.
func flip(enc []byte, i int) []byte {
	c := append([]byte(nil), enc...)
	c[i] ^= 1
	return c
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func (g *keysGen) add(id, comment, typ string, c vectors.KeysCase) {
	c.ID, c.Comment, c.Type = id, comment, typ
	g.cases = append(g.cases, c)
}

func accepted(in []byte, handle string, key []byte) vectors.KeysReceive {
	return vectors.KeysReceive{Input: in, VerifyHandle: handle, VerifyKey: key}
}

func refused(in []byte, mutation string, handle string, key []byte, stage, part, err string) vectors.KeysReceive {
	return vectors.KeysReceive{Input: in, Mutation: mutation, VerifyHandle: handle, VerifyKey: key,
		Stage: stage, Part: part, Error: err}
}

func (g *keysGen) certificates() {
	ak, acct := account("alice")
	_, other := account("mallory")
	_, dev := device("alice-phone")
	dpk := keys.DevicePublicKeys{Signing: [32]byte(dev.SigningPublic), DH: [32]byte(dev.DHPublic)}
	issue := func(handle string, id uint32) *vectors.KeysCertificateCase {
		c := must(ak.CertifyDevice(handle, keys.DeviceID(id), dpk, keysTime)).Marshal()
		return &vectors.KeysCertificateCase{Account: acct, Handle: handle, DeviceID: id, Device: dev,
			Created: keysTime.Unix(), SignedMessage: signed(keys.LabelDeviceCertificate, c), Certificate: c,
			Receive: accepted(c, handle, acct.Public)}
	}
	add := func(id, comment string, c *vectors.KeysCertificateCase) {
		g.add("certificate-"+id, comment, "certificate", vectors.KeysCase{Certificate: c})
	}
	add("valid", "a certificate as issued", issue("alice", 1))
	add("handle-32", "the longest handle, the largest certificate", issue(strings.Repeat("a", 30)+"-9", 0xfffffffe))

	c := issue("alice", 1)
	h := len(c.Handle)
	off := map[string]int{"account": 2 + h, "device": 34 + h, "signing": 38 + h, "dh": 70 + h, "created": 102 + h, "signature": 110 + h}
	type mut struct {
		id, comment, mutation string
		input                 []byte
		stage, err            string
	}
	re := func(o int, b []byte) []byte {
		return resign(acct.Seed, keys.LabelDeviceCertificate, edit(c.Certificate, o, b))
	}
	var created [8]byte
	binary.BigEndian.PutUint64(created[:], 1<<62+1)
	for _, m := range []mut{
		{"tampered-signature", "a signature that does not verify", "bit 0 of the first signature byte flipped",
			flip(c.Certificate, off["signature"]), "verify", "bad_signature"},
		{"tampered-created", "the signature covers the creation time", "bit 0 of the last byte of created flipped",
			flip(c.Certificate, off["created"]+7), "verify", "bad_signature"},
		{"revocation-label", "a signature under another label does not verify (spec/keys.md §2.3)",
			"signed under sealpost/v1/device-revocation instead of sealpost/v1/device-certificate",
			resign(acct.Seed, keys.LabelDeviceRevocation, c.Certificate[:len(c.Certificate)-keys.SignatureSize]), "verify", "bad_signature"},
		{"wrong-version", "version byte 2", "version set to 0x02 and re-signed", re(0, []byte{2}), "parse", "malformed"},
		{"invalid-handle", "upper-case handle", "handle set to \"Alice\" and re-signed", re(2, []byte("A")), "parse", "malformed"},
		{"device-id-zero", "device id 0 is never valid", "device id set to 0 and re-signed", re(off["device"], []byte{0, 0, 0, 0}), "parse", "malformed"},
		{"created-out-of-range", "creation time above 2^62", "created set to 2^62+1 and re-signed", re(off["created"], created[:]), "parse", "malformed"},
		{"noncanonical-dh-key", "X25519 key with bit 255 set", "agreement key set to " + x25519HighBit + " and re-signed",
			re(off["dh"], unhex(x25519HighBit)), "parse", "malformed"},
		{"unreduced-dh-key", "X25519 key u = p + 1", "agreement key set to " + x25519NotReduced + " and re-signed",
			re(off["dh"], unhex(x25519NotReduced)), "parse", "malformed"},
		{"low-order-dh-key", "X25519 key of order 8", "agreement key set to " + x25519LowOrder + " and re-signed",
			re(off["dh"], unhex(x25519LowOrder)), "parse", "malformed"},
		{"noncanonical-signing-key", "Ed25519 key with y = p + 3", "signing key set to " + ed25519NotReduced + " and re-signed",
			re(off["signing"], unhex(ed25519NotReduced)), "parse", "malformed"},
		{"small-order-signing-key", "Ed25519 key of order 8", "signing key set to " + ed25519SmallOrder + " and re-signed",
			re(off["signing"], unhex(ed25519SmallOrder)), "parse", "malformed"},
		{"noncanonical-account-key", "Ed25519 account key with y = p + 3", "account key set to " + ed25519NotReduced + " and re-signed",
			re(off["account"], unhex(ed25519NotReduced)), "parse", "malformed"},
		{"truncated", "one byte short", "last byte removed", c.Certificate[:len(c.Certificate)-1], "parse", "malformed"},
		{"trailing-byte", "one byte too many", "0x00 appended", cat(c.Certificate, []byte{0}), "parse", "malformed"},
	} {
		v := *c
		v.Receive = refused(m.input, m.mutation, "alice", acct.Public, m.stage, "", m.err)
		add(m.id, m.comment, &v)
	}
	// A certificate issued by another account (its key in the account
	// field, its signature), checked against alice's key.
	mk := must(keys.NewAccountPrivateKey(other.Seed))
	foreign := must(mk.CertifyDevice("alice", 1, dpk, keysTime)).Marshal()
	v := *c
	v.Receive = refused(foreign, "issued and signed by another account's key (mutation_seed) for the same handle, device and time",
		"alice", acct.Public, "verify", "", "wrong_account")
	v.Receive.MutationSeed = other.Seed
	add("other-account", "a certificate signed by another account's key, checked against the account's key", &v)
	v = *c
	v.Receive = refused(resign(other.Seed, keys.LabelDeviceCertificate, c.Certificate[:len(c.Certificate)-keys.SignatureSize]),
		"signature replaced by another account's (mutation_seed) over the same body, which still names alice's key",
		"alice", acct.Public, "verify", "", "bad_signature")
	v.Receive.MutationSeed = other.Seed
	add("foreign-signature", "the body names the account's key but another account signed it", &v)
	v = *c
	v.Receive = refused(c.Certificate, "verified for the handle \"bob\"", "bob", acct.Public, "verify", "", "wrong_account")
	add("wrong-handle", "the certificate is checked for another handle", &v)
}

// prekey generates a prekey of d from a labelled random source.
func prekey(d *keys.DevicePrivateKeys, label string, kind keys.PrekeyKind, id uint32) (*keys.PrekeyPrivate, []byte) {
	priv, pub := must2(d.GeneratePrekey(testrand.New("keys.json prekey "+label), kind, id))
	return priv, pub.Marshal()
}

func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(err)
	}
	return a, b
}

func (g *keysGen) prekeys() {
	d, dev := device("alice-phone")
	_, other := device("mallory-phone")
	base := map[keys.PrekeyKind]*vectors.KeysPrekeyCase{}
	for _, p := range []struct {
		kind keys.PrekeyKind
		id   uint32
	}{{keys.SignedPrekey, 1}, {keys.OneTimePrekey, 0x01000001}, {keys.LastResortKEMPrekey, 2}, {keys.OneTimeKEMPrekey, 0xffffffff}} {
		priv, enc := prekey(d, p.kind.String(), p.kind, p.id)
		c := &vectors.KeysPrekeyCase{Device: dev, Kind: uint8(p.kind), KindName: p.kind.String(), ID: p.id,
			Secret: priv.Secret, Public: enc[5 : len(enc)-keys.SignatureSize],
			SignedMessage: signed(keys.LabelPrekey, enc), Prekey: enc, Receive: accepted(enc, "", dev.SigningPublic)}
		base[p.kind] = c
		g.add("prekey-"+p.kind.String(), "a "+p.kind.String()+" as generated", "prekey", vectors.KeysCase{Prekey: c})
	}
	add := func(id, comment string, kind keys.PrekeyKind, rcv vectors.KeysReceive) {
		v := *base[kind]
		v.Receive = rcv
		g.add("prekey-"+id, comment, "prekey", vectors.KeysCase{Prekey: &v})
	}
	spk, kem := base[keys.SignedPrekey].Prekey, base[keys.LastResortKEMPrekey].Prekey
	re := func(enc []byte, off int, b []byte) []byte {
		return resign(dev.SigningSeed, keys.LabelPrekey, edit(enc, off, b))
	}
	rej := func(in []byte, mutation, stage, err string) vectors.KeysReceive {
		return refused(in, mutation, "", dev.SigningPublic, stage, "", err)
	}
	badKEM := append([]byte(nil), kem[:len(kem)-keys.SignatureSize]...)
	badKEM[5], badKEM[6] = 0xff, badKEM[6]|0x0f // first coefficient 4095 >= q
	add("tampered-signature", "a signature that does not verify", keys.SignedPrekey,
		rej(flip(spk, len(spk)-1), "bit 0 of the last signature byte flipped", "verify", "bad_signature"))
	kc := append([]byte(nil), spk...)
	kc[0] = byte(keys.OneTimePrekey)
	add("kind-changed", "the signature covers the kind", keys.SignedPrekey,
		rej(kc, "kind set to 2 (one-time-prekey) without re-signing", "verify", "bad_signature"))
	rcv := refused(spk, "verified with another device's signing key", "", other.SigningPublic, "verify", "", "bad_signature")
	rcv.MutationSeed = other.SigningSeed
	add("wrong-device", "a prekey checked against another device", keys.SignedPrekey, rcv)
	add("low-order-x25519", "X25519 prekey of order 8", keys.SignedPrekey,
		rej(re(spk, 5, unhex(x25519LowOrder)), "public key set to "+x25519LowOrder+" and re-signed", "parse", "malformed"))
	add("noncanonical-x25519", "X25519 prekey with bit 255 set", keys.SignedPrekey,
		rej(re(spk, 5, unhex(x25519HighBit)), "public key set to "+x25519HighBit+" and re-signed", "parse", "malformed"))
	add("invalid-kem-key", "ML-KEM-768 key failing the FIPS 203 §7.2 modulus check", keys.LastResortKEMPrekey,
		rej(resign(dev.SigningSeed, keys.LabelPrekey, badKEM), "first 12-bit coefficient set to 4095 and re-signed", "parse", "malformed"))
	for _, k := range []byte{0, 5, 0xff} {
		add(fmt.Sprintf("unknown-kind-%d", k), "unknown kinds are refused", keys.SignedPrekey,
			rej(re(spk, 0, []byte{k}), fmt.Sprintf("kind set to %d and re-signed", k), "parse", "malformed"))
	}
	add("truncated", "one byte short", keys.LastResortKEMPrekey, rej(kem[:len(kem)-1], "last byte removed", "parse", "malformed"))
	add("trailing-byte", "one byte too many", keys.SignedPrekey, rej(cat(spk, []byte{0}), "0x00 appended", "parse", "malformed"))
}

// bundlePrekey generates one prekey of a bundle.
func bundlePrekey(d *keys.DevicePrivateKeys, label string, kind keys.PrekeyKind, id uint32) (*keys.Prekey, vectors.KeysBundlePrekey) {
	priv, enc := prekey(d, label, kind, id)
	return must(keys.ParsePrekey(enc)), vectors.KeysBundlePrekey{Kind: uint8(kind), ID: id, Secret: priv.Secret, Prekey: enc}
}

func (g *keysGen) bundles() {
	ak, acct := account("alice")
	_, other := account("mallory")
	d, dev := device("alice-laptop")
	od, odev := device("mallory-laptop")
	cert := must(ak.CertifyDevice("alice", 7, d.Public(), keysTime))
	spk, spkV := bundlePrekey(d, "bundle spk", keys.SignedPrekey, 1)
	opk, opkV := bundlePrekey(d, "bundle opk", keys.OneTimePrekey, 42)
	okem, okemV := bundlePrekey(d, "bundle pqopk", keys.OneTimeKEMPrekey, 43)
	lkem, lkemV := bundlePrekey(d, "bundle pqspk", keys.LastResortKEMPrekey, 2)
	mk := func(one *keys.Prekey, oneV *vectors.KeysBundlePrekey, kem *keys.Prekey, kemV vectors.KeysBundlePrekey) *vectors.KeysBundleCase {
		b := &keys.Bundle{Certificate: cert, SignedPrekey: spk, OneTimePrekey: one, KEMPrekey: kem}
		enc := b.Marshal()
		return &vectors.KeysBundleCase{Account: acct, Handle: "alice", DeviceID: 7, Device: dev, Created: keysTime.Unix(),
			Certificate: cert.Marshal(), SignedPrekey: spkV, OneTimePrekey: oneV, KEMPrekey: kemV,
			Bundle: enc, Exhausted: b.Exhausted(), Receive: accepted(enc, "alice", acct.Public)}
	}
	full := mk(opk, &opkV, okem, okemV)
	add := func(id, comment string, c *vectors.KeysBundleCase) {
		g.add("bundle-"+id, comment, "bundle", vectors.KeysCase{Bundle: c})
	}
	add("with-one-time", "signed prekey, one-time X25519 prekey and one-time ML-KEM prekey", full)
	add("without-one-time", "one-time prekeys exhausted: signed prekey and last-resort ML-KEM prekey", mk(nil, nil, lkem, lkemV))
	add("one-time-kem-only", "no one-time X25519 prekey left, a one-time ML-KEM prekey still served", mk(nil, nil, okem, okemV))

	// Offsets in the full bundle (spec/keys.md §9.1).
	certEnd := 1 + len(full.Certificate)
	spkEnd := certEnd + len(spkV.Prekey)
	opkEnd := spkEnd + 1 + len(opkV.Prekey)
	b := full.Bundle
	_, otherSPK := must2(od.GeneratePrekey(bytes.NewReader(spkV.Secret), keys.SignedPrekey, 1))
	_, otherOPK := must2(od.GeneratePrekey(bytes.NewReader(opkV.Secret), keys.OneTimePrekey, 42))
	foreignCert := must(must(keys.NewAccountPrivateKey(other.Seed)).CertifyDevice("alice", 7, d.Public(), keysTime)).Marshal()
	variants := []struct {
		id, comment, mutation string
		input                 []byte
		seed                  []byte
		handle                string
		key                   []byte
		stage, part, err      string
	}{
		{"bad-certificate-signature", "the account key's signature does not verify", "bit 0 of the certificate's last signature byte flipped",
			flip(b, certEnd-1), nil, "alice", acct.Public, "verify", "certificate", "bad_signature"},
		{"other-account", "the bundle's certificate is signed by another account's key", "certificate replaced by one issued and signed by the account of mutation_seed for the same handle, device and time",
			cat(b[:1], foreignCert, b[certEnd:]),
			other.Seed, "alice", acct.Public, "verify", "certificate", "wrong_account"},
		{"wrong-handle", "the bundle is checked for another handle", "verified for the handle \"bob\"",
			b, nil, "bob", acct.Public, "verify", "certificate", "wrong_account"},
		{"signed-prekey-other-device", "the signed prekey is signed by another device", "signed prekey replaced by the same key signed by the device of mutation_seed",
			cat(b[:certEnd], otherSPK.Marshal(), b[spkEnd:]), odev.SigningSeed, "alice", acct.Public, "verify", "signed prekey", "bad_signature"},
		{"one-time-prekey-other-device", "the one-time prekey is signed by another device", "one-time prekey replaced by the same key signed by the device of mutation_seed",
			cat(b[:spkEnd+1], otherOPK.Marshal(), b[opkEnd:]), odev.SigningSeed, "alice", acct.Public, "verify", "one-time prekey", "bad_signature"},
		{"kem-prekey-tampered", "the ML-KEM prekey's signature does not verify", "bit 0 of the last byte flipped",
			flip(b, len(b)-1), nil, "alice", acct.Public, "verify", "KEM prekey", "bad_signature"},
		{"wrong-kind-signed-slot", "a one-time prekey where the signed prekey belongs", "signed prekey replaced by the one-time prekey",
			cat(b[:certEnd], opkV.Prekey, b[spkEnd:]), nil, "alice", acct.Public, "parse", "signed prekey", "wrong_kind"},
		{"wrong-kind-one-time-slot", "the signed prekey where a one-time prekey belongs", "one-time prekey replaced by the signed prekey",
			cat(b[:spkEnd+1], spkV.Prekey, b[opkEnd:]), nil, "alice", acct.Public, "parse", "one-time prekey", "wrong_kind"},
		{"wrong-kind-kem-slot", "an X25519 prekey where the ML-KEM prekey belongs", "ML-KEM prekey replaced by the one-time prekey",
			cat(b[:opkEnd], opkV.Prekey), nil, "alice", acct.Public, "parse", "KEM prekey", "wrong_kind"},
		{"wrong-version", "bundle version 2", "first byte set to 0x02",
			cat([]byte{2}, b[1:]), nil, "alice", acct.Public, "parse", "version", "malformed"},
		{"bad-presence-byte", "one-time presence byte 2", "presence byte set to 0x02",
			cat(b[:spkEnd], []byte{2}, b[spkEnd+1:]), nil, "alice", acct.Public, "parse", "one-time prekey", "malformed"},
		{"truncated", "one byte short", "last byte removed",
			b[:len(b)-1], nil, "alice", acct.Public, "parse", "KEM prekey", "malformed"},
		{"trailing-byte", "one byte too many", "0x00 appended",
			cat(b, []byte{0}), nil, "alice", acct.Public, "parse", "KEM prekey", "malformed"},
	}
	for _, v := range variants {
		c := *full
		c.Receive = refused(v.input, v.mutation, v.handle, v.key, v.stage, v.part, v.err)
		c.Receive.MutationSeed = v.seed
		add(v.id, v.comment, &c)
	}
}

func (g *keysGen) safetyNumbers() {
	type pair struct{ ha, hb, la, lb string }
	pairs := []pair{{"alice", "bob", "alice", "bob"}, {"carol.d", "dave_e-1", "carol", "dave"}}
	var compacts []string
	var cases []*vectors.KeysSafetyNumberCase
	for _, p := range pairs {
		_, a := account(p.la)
		_, b := account(p.lb)
		sn := must(keys.NewSafetyNumber(p.ha, [32]byte(a.Public), p.hb, [32]byte(b.Public)))
		cases = append(cases, &vectors.KeysSafetyNumberCase{HandleA: p.ha, AccountA: a, HandleB: p.hb, AccountB: b,
			FingerprintA: fingerprint(p.ha, a.Public), FingerprintB: fingerprint(p.hb, b.Public),
			Digits: sn.Digits(), Compact: sn.Compact()})
		compacts = append(compacts, sn.Compact())
	}
	for i, c := range cases {
		body := strings.TrimPrefix(c.Compact, keys.SafetyNumberPrefix)
		last := "A" // another character of the alphabet in the last place
		if strings.HasSuffix(body, last) {
			last = "B"
		}
		c.Scans = []vectors.KeysSafetyScan{
			{Scanned: c.Compact},
			{Scanned: compacts[1-i], Error: "safety_number_mismatch"},
			{Scanned: c.Compact[:len(c.Compact)-1] + last, Error: "safety_number_mismatch"},
			{Scanned: "sealpost-sn2:" + body, Error: "malformed"},
			{Scanned: c.Compact[:len(c.Compact)-1], Error: "malformed"},
			{Scanned: c.Compact + "A", Error: "malformed"},
			{Scanned: keys.SafetyNumberPrefix + body[:40] + "\n" + body[40:79], Error: "malformed"},
			{Scanned: c.Compact[:len(c.Compact)-1] + "+", Error: "malformed"},
			{Scanned: c.Digits, Error: "malformed"},
		}
		g.add(fmt.Sprintf("safety-number-%d", i+1), c.HandleA+" and "+c.HandleB, "safety-number", vectors.KeysCase{SafetyNumber: c})
	}
}

// fingerprint is spec/keys.md §10.1, written out independently of crypto/keys.
func fingerprint(handle string, aik []byte) []byte {
	h := sha512.Sum512(cat([]byte(keys.LabelSafetyNumber), []byte{0, byte(len(handle))}, []byte(handle), aik))
	for i := 1; i < keys.SafetyNumberIterations; i++ {
		h = sha512.Sum512(cat(h[:], aik))
	}
	return h[:30]
}
