package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/internal/vectors"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/kttest"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func init() { register("kt.json", genKT) }

const ktOrigin = "example.org/keyserver"

// ktEntryBytes encodes an entry as spec/transparency.md §2 lays it out,
// written out here rather than borrowed from the code under test.
func ktEntryBytes(handle string, aik []byte, version uint64, devs []vectors.KTEntryDevice) []byte {
	b := append([]byte{0x01, byte(len(handle))}, handle...)
	b = append(b, aik...)
	b = binary.BigEndian.AppendUint64(b, version)
	b = binary.BigEndian.AppendUint16(b, uint16(len(devs)))
	for _, d := range devs {
		b = binary.BigEndian.AppendUint16(b, uint16(len(d.Certificate)))
		b = append(b, d.Certificate...)
		if d.Revocation == nil {
			b = append(b, 0)
			continue
		}
		b = append(b, 1)
		b = binary.BigEndian.AppendUint16(b, uint16(len(d.Revocation)))
		b = append(b, d.Revocation...)
	}
	return b
}

// RFC 6962 §2.1 MTH, PATH and PROOF, written out from the RFC.
func rfcLeaf(d []byte) []byte { h := sha256.Sum256(append([]byte{0}, d...)); return h[:] }
func rfcNode(l, r []byte) []byte {
	h := sha256.Sum256(append(append([]byte{1}, l...), r...))
	return h[:]
}
func rfcSplit(n int) int {
	k := 1
	for k*2 < n {
		k *= 2
	}
	return k
}
func rfcMTH(d [][]byte) []byte {
	switch len(d) {
	case 0:
		h := sha256.Sum256(nil)
		return h[:]
	case 1:
		return rfcLeaf(d[0])
	}
	k := rfcSplit(len(d))
	return rfcNode(rfcMTH(d[:k]), rfcMTH(d[k:]))
}
func rfcPath(m int, d [][]byte) [][]byte {
	if len(d) <= 1 {
		return nil
	}
	k := rfcSplit(len(d))
	if m < k {
		return append(rfcPath(m, d[:k]), rfcMTH(d[k:]))
	}
	return append(rfcPath(m-k, d[k:]), rfcMTH(d[:k]))
}
func rfcSubproof(m int, d [][]byte, b bool) [][]byte {
	if m == len(d) {
		if b {
			return nil
		}
		return [][]byte{rfcMTH(d)}
	}
	k := rfcSplit(len(d))
	if m <= k {
		return append(rfcSubproof(m, d[:k], b), rfcMTH(d[k:]))
	}
	return append(rfcSubproof(m-k, d[k:], false), rfcMTH(d[:k]))
}

func hexes(hs [][]byte) []vectors.Hex {
	out := make([]vectors.Hex, len(hs))
	for i, h := range hs {
		out[i] = h
	}
	return out
}

func genKT() ([]byte, error) {
	r := testrand.New("vectors/kt")
	seed := func() []byte { b := make([]byte, ed25519.SeedSize); io.ReadFull(r, b); return b }
	logSeed, otherSeed := seed(), seed()
	var cases []vectors.KTCase

	// Entries (§2).
	created := time.Unix(1767225600, 0)
	aliceSeed, mallorySeed := seed(), seed()
	alice, _ := keys.NewAccountPrivateKey(aliceSeed)
	mallory, _ := keys.NewAccountPrivateKey(mallorySeed)
	cert := func(k *keys.AccountPrivateKey, handle string, id keys.DeviceID) ([]byte, error) {
		d, err := keys.GenerateDeviceKeys(r)
		if err != nil {
			return nil, err
		}
		c, err := k.CertifyDevice(handle, id, d.Public(), created)
		if err != nil {
			return nil, err
		}
		return c.Marshal(), nil
	}
	var certs [4][]byte
	for i, id := range []keys.DeviceID{1, 2, 9} {
		c, err := cert(alice, "alice", id)
		if err != nil {
			return nil, err
		}
		certs[i] = c
	}
	foreign, err := cert(mallory, "mallory", 3)
	if err != nil {
		return nil, err
	}
	rev, err := alice.RevokeDevice("alice", 2, created.Add(time.Hour))
	if err != nil {
		return nil, err
	}
	aik := alice.Public()
	entry := func(id, comment, mutation, errKind string, version uint64, devs []vectors.KTEntryDevice, mutate func([]byte) []byte) error {
		leaf := ktEntryBytes("alice", aik[:], version, devs)
		if errKind != "malformed" {
			e, err := kt.ParseEntry(leaf)
			if err != nil {
				return fmt.Errorf("%s: %w", id, err)
			}
			if !bytes.Equal(e.Marshal(), leaf) {
				return fmt.Errorf("%s: kt.Marshal disagrees with the generator's encoding", id)
			}
		}
		if mutate != nil {
			leaf = mutate(bytes.Clone(leaf))
		}
		cases = append(cases, vectors.KTCase{ID: id, Comment: comment, Type: "entry", Error: errKind, Entry: &vectors.KTEntryCase{
			Handle: "alice", AccountSeed: aliceSeed, AccountKey: aik[:], Version: version, Devices: devs,
			Mutation: mutation, Leaf: leaf, LeafHash: rfcLeaf(leaf),
		}})
		return nil
	}
	d1 := vectors.KTEntryDevice{Certificate: certs[0]}
	d2 := vectors.KTEntryDevice{Certificate: certs[1]}
	d2r := vectors.KTEntryDevice{Certificate: certs[1], Revocation: rev.Marshal()}
	d9 := vectors.KTEntryDevice{Certificate: certs[2]}
	full := []vectors.KTEntryDevice{d1, d2r, d9}
	flipped := bytes.Clone(certs[2])
	flipped[len(flipped)-1] ^= 0x01
	steps := []error{
		entry("entry-registration", "key-set version 1, one device", "", "", 1, []vectors.KTEntryDevice{d1}, nil),
		entry("entry-revoked", "three devices (ids 1, 2, 9), device 2 revoked; version 4", "", "", 4, full, nil),
		entry("entry-trailing-byte", "one zero byte appended", "append 0x00", "malformed", 4, full, func(b []byte) []byte { return append(b, 0) }),
		entry("entry-truncated", "last byte removed", "drop last byte", "malformed", 4, full, func(b []byte) []byte { return b[:len(b)-1] }),
		entry("entry-version-byte", "version byte 0x02", "byte 0 = 0x02", "malformed", 4, full, func(b []byte) []byte { b[0] = 2; return b }),
		entry("entry-keyset-version-zero", "key-set version 0", "", "malformed", 0, full, nil),
		entry("entry-no-devices", "device count 0", "", "malformed", 1, nil, nil),
		entry("entry-ids-unsorted", "devices 9 before 1", "", "malformed", 2, []vectors.KTEntryDevice{d9, d1}, nil),
		entry("entry-ids-duplicate", "device 2 listed twice", "", "malformed", 2, []vectors.KTEntryDevice{d2, d2}, nil),
		entry("entry-revoked-byte", "revoked byte 2 on the first device", "first device's revoked byte = 0x02", "malformed", 1, []vectors.KTEntryDevice{d1},
			func(b []byte) []byte { b[len(b)-1] = 2; return b }),
		entry("entry-revocation-other-device", "device 1 carries the revocation of device 2", "", "malformed", 2,
			[]vectors.KTEntryDevice{{Certificate: certs[0], Revocation: rev.Marshal()}}, nil),
		entry("entry-foreign-certificate", "a certificate of another account (parses; Verify refuses: wrong account)", "", "bad_signature", 2,
			[]vectors.KTEntryDevice{d1, {Certificate: foreign}}, nil),
		entry("entry-certificate-signature", "last bit of device 9's certificate signature flipped (parses; Verify refuses)", "", "bad_signature", 2,
			[]vectors.KTEntryDevice{d1, {Certificate: flipped}}, nil),
	}
	for _, err := range steps {
		if err != nil {
			return nil, err
		}
	}

	// Checkpoints (§4, §5).
	logKey := ed25519.NewKeyFromSeed(logSeed)
	logPub := logKey.Public().(ed25519.PublicKey)
	otherKey := ed25519.NewKeyFromSeed(otherSeed)
	keyID := func(name string, pub ed25519.PublicKey) uint32 {
		h := sha256.Sum256(append([]byte(name+"\n\x01"), pub...))
		return binary.BigEndian.Uint32(h[:4])
	}
	vkey := fmt.Sprintf("%s+%08x+%s", ktOrigin, keyID(ktOrigin, logPub), base64.StdEncoding.EncodeToString(append([]byte{1}, logPub...)))
	if got, err := kt.VerifierKey(ktOrigin, logPub); err != nil || got != vkey {
		return nil, fmt.Errorf("kt.VerifierKey = %q, %v; generator says %q", got, err, vkey)
	}
	noteSign := func(k ed25519.PrivateKey, text string) ([]byte, error) {
		pub := k.Public().(ed25519.PublicKey)
		skey := fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", ktOrigin, keyID(ktOrigin, pub), base64.StdEncoding.EncodeToString(append([]byte{1}, k.Seed()...)))
		s, err := note.NewSigner(skey)
		if err != nil {
			return nil, err
		}
		return note.Sign(&note.Note{Text: text}, s)
	}
	leaves := make([][]byte, 7)
	for i := range leaves {
		leaves[i] = []byte("sealpost kt vector leaf " + strconv.Itoa(i))
	}
	root7 := rfcMTH(leaves)
	b64 := base64.StdEncoding.EncodeToString
	body := func(size int64, root []byte) string {
		return ktOrigin + "\n" + strconv.FormatInt(size, 10) + "\n" + b64(root) + "\n"
	}
	// stampLine is the log key's timestamped signature line of text at t
	// (spec/transparency.md §5.3), written out here from C2SP
	// tlog-cosignature/v1 rather than taken from kt.
	stampLine := func(k ed25519.PrivateKey, text string, t int64) string {
		pub := k.Public().(ed25519.PublicKey)
		h := sha256.Sum256(append([]byte(ktOrigin+"\n\x04"), pub...))
		msg := "cosignature/v1\ntime " + strconv.FormatInt(t, 10) + "\n" + text
		sig := binary.BigEndian.AppendUint64(append([]byte(nil), h[:4]...), uint64(t))
		sig = append(sig, ed25519.Sign(k, []byte(msg))...)
		return "\u2014 " + ktOrigin + " " + b64(sig) + "\n"
	}
	// checkpoint adds a case: text signed by signer, with the log key's
	// timestamp at t unless t is 0.
	checkpoint := func(id, comment, errKind string, signer ed25519.PrivateKey, text string, size int64, root []byte, t int64, edit func([]byte) []byte) error {
		signed, err := noteSign(signer, text)
		if err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		if t != 0 {
			signed = append(signed, stampLine(logKey, text, t)...)
		}
		if errKind == "" {
			s, _ := kt.NewSigner(ktOrigin, signer)
			var extra []note.Signer
			if t != 0 {
				ts, err := kt.NewTimestampSigner(ktOrigin, logKey, time.Unix(t, 0))
				if err != nil {
					return fmt.Errorf("%s: %w", id, err)
				}
				extra = append(extra, ts)
			}
			mine, err := kt.SignCheckpoint(s, ktOrigin, size, tlog.Hash(root), extra...)
			if err != nil || !bytes.Equal(mine, signed) {
				return fmt.Errorf("%s: kt.SignCheckpoint disagrees with the generator: %v", id, err)
			}
		}
		if edit != nil {
			signed = edit(signed)
		}
		cases = append(cases, vectors.KTCase{ID: id, Comment: comment, Type: "checkpoint", Error: errKind, Checkpoint: &vectors.KTCheckpointCase{
			LogSeed: logSeed, SignerSeed: signer.Seed(), Origin: ktOrigin, VerifierKey: vkey, KeyID: fmt.Sprintf("%08x", keyID(ktOrigin, logPub)),
			Body: text, Signed: string(signed), Size: size, Root: root, Time: t,
		}})
		return nil
	}
	empty := sha256.Sum256(nil)
	steps = []error{
		checkpoint("checkpoint-ok", "tree of the 7 proof leaves", "", logKey, body(7, root7), 7, root7, 0, nil),
		checkpoint("checkpoint-empty", "empty tree: root SHA-256(\"\")", "", logKey, body(0, empty[:]), 0, empty[:], 0, nil),
		checkpoint("checkpoint-other-key", "same origin, signed by another key", "bad_signature", otherKey, body(7, root7), 7, root7, 0, nil),
		checkpoint("checkpoint-body-edited", "size changed from 7 to 8 after signing", "bad_signature", logKey, body(7, root7), 7, root7, 0,
			func(b []byte) []byte { return bytes.Replace(b, []byte("\n7\n"), []byte("\n8\n"), 1) }),
		checkpoint("checkpoint-extension-line", "a fourth body line (C2SP extension), refused", "malformed", logKey, body(7, root7)+"ext\n", 7, root7, 0, nil),
		checkpoint("checkpoint-leading-zero", "size written 07", "malformed", logKey, ktOrigin+"\n07\n"+b64(root7)+"\n", 7, root7, 0, nil),
		checkpoint("checkpoint-wrong-origin", "origin line names another log", "malformed", logKey, "example.com/keyserver\n7\n"+b64(root7)+"\n", 7, root7, 0, nil),
		checkpoint("checkpoint-timestamp", "with the log key's timestamped signature (spec/transparency.md §5.3): time 1780000000", "", logKey, body(7, root7), 7, root7, 1780000000, nil),
		checkpoint("checkpoint-timestamp-edited", "timestamp changed from 1780000000 to 1790000000 after signing", "bad_signature", logKey, body(7, root7), 7, root7, 1780000000,
			func(b []byte) []byte {
				i := bytes.LastIndex(b, []byte("\u2014 "))
				line := b[i:]
				sig, _ := base64.StdEncoding.DecodeString(strings.TrimSuffix(string(line[len("\u2014 "+ktOrigin+" "):]), "\n"))
				binary.BigEndian.PutUint64(sig[4:], 1790000000)
				return append(b[:i:i], "\u2014 "+ktOrigin+" "+b64(sig)+"\n"...)
			}),
		checkpoint("checkpoint-timestamp-only", "the log key's timestamped signature without its plain signature", "bad_signature", logKey, body(7, root7), 7, root7, 1780000000,
			func(b []byte) []byte {
				first := bytes.Index(b, []byte("\n\n\u2014 ")) + 2
				second := bytes.LastIndex(b, []byte("\u2014 "))
				return append(b[:first:first], b[second:]...)
			}),
		checkpoint("checkpoint-empty-wrong-root", "size 0 with a root other than SHA-256(\"\"), validly signed", "security", logKey, body(0, root7), 0, root7, 0, nil),
	}
	for _, err := range steps {
		if err != nil {
			return nil, err
		}
	}

	// Proofs (§6), checked against tlog through kttest.
	l, err := kttest.New(ktOrigin, logKey)
	if err != nil {
		return nil, err
	}
	for _, leaf := range leaves {
		l.Append(leaf)
	}
	hashesOf := func(p []tlog.Hash) [][]byte {
		out := make([][]byte, len(p))
		for i := range p {
			out[i] = p[i][:]
		}
		return out
	}
	inclusion := func(id, comment, errKind string, size, index int64, leaf []byte, proof [][]byte) error {
		if errKind == "" {
			p, err := l.ProveInclusion(index, size)
			if err != nil || !equalHashes(hashesOf(p), proof) {
				return fmt.Errorf("%s: tlog.ProveRecord disagrees with RFC 6962 PATH: %v", id, err)
			}
		}
		cases = append(cases, vectors.KTCase{ID: id, Comment: comment, Type: "inclusion", Error: errKind, Inclusion: &vectors.KTInclusionCase{
			Leaves: hexes(leaves[:size]), Size: size, Root: rfcMTH(leaves[:size]), Index: index, Leaf: leaf, Proof: hexes(proof),
		}})
		return nil
	}
	tampered := append(bytes.Clone(leaves[3]), '!')
	steps = []error{
		inclusion("inclusion-first", "leaf 0 of 7", "", 7, 0, leaves[0], rfcPath(0, leaves)),
		inclusion("inclusion-last", "leaf 6 of 7 (the right edge)", "", 7, 6, leaves[6], rfcPath(6, leaves)),
		inclusion("inclusion-middle", "leaf 3 of 5", "", 5, 3, leaves[3], rfcPath(3, leaves[:5])),
		inclusion("inclusion-single", "leaf 0 of 1: empty proof", "", 1, 0, leaves[0], nil),
		inclusion("inclusion-tampered-leaf", "leaf 3 with one byte appended, proof of leaf 3", "security", 7, 3, tampered, rfcPath(3, leaves)),
		inclusion("inclusion-wrong-index", "leaf 3 with the proof of leaf 3, claimed at index 2", "security", 7, 2, leaves[3], rfcPath(3, leaves)),
		inclusion("inclusion-extra-hash", "a valid proof with one more hash", "security", 7, 3, leaves[3], append(rfcPath(3, leaves), rfcLeaf(leaves[0]))),
		inclusion("inclusion-index-past-tree", "index 7 in a tree of 7", "security", 7, 7, leaves[6], rfcPath(6, leaves)),
	}
	for _, err := range steps {
		if err != nil {
			return nil, err
		}
	}

	forked := make([][]byte, 7)
	copy(forked, leaves[:1])
	for i := 1; i < 7; i++ {
		forked[i] = append(bytes.Clone(leaves[i]), '*')
	}
	consistency := func(id, comment, errKind string, newLeaves [][]byte, oldSize, newSize int64, proof [][]byte) error {
		if errKind == "" && oldSize > 0 && oldSize < newSize {
			p, err := l.ProveConsistency(oldSize, newSize)
			if err != nil || !equalHashes(hashesOf(p), proof) {
				return fmt.Errorf("%s: tlog.ProveTree disagrees with RFC 6962 PROOF: %v", id, err)
			}
		}
		// The older tree is always a prefix of the honest leaves.
		oldLeaves := leaves
		cases = append(cases, vectors.KTCase{ID: id, Comment: comment, Type: "consistency", Error: errKind, Consistency: &vectors.KTConsistencyCase{
			Leaves: hexes(newLeaves[:max(newSize, oldSize)]), OldSize: oldSize, OldRoot: rfcMTH(oldLeaves[:oldSize]),
			NewSize: newSize, NewRoot: rfcMTH(newLeaves[:newSize]), Proof: hexes(proof),
		}})
		return nil
	}
	proof := func(m, n int) [][]byte { return rfcSubproof(m, leaves[:n], true) }
	badProof := proof(3, 7)
	badProof[0] = rfcLeaf([]byte("not a node"))
	steps = []error{
		consistency("consistency-3-7", "3 leaves to 7", "", leaves, 3, 7, proof(3, 7)),
		consistency("consistency-4-7", "4 leaves (a power of two) to 7", "", leaves, 4, 7, proof(4, 7)),
		consistency("consistency-1-7", "1 leaf to 7", "", leaves, 1, 7, proof(1, 7)),
		consistency("consistency-6-7", "6 leaves to 7", "", leaves, 6, 7, proof(6, 7)),
		consistency("consistency-equal", "7 to 7, same root: empty proof", "", leaves, 7, 7, nil),
		consistency("consistency-from-empty", "0 to 7: empty proof", "", leaves, 0, 7, nil),
		consistency("consistency-fork", "newer tree of 7 whose leaves 1 to 6 differ (the older tree of 3 is not its prefix), with the proof from its own history", "security", forked, 3, 7, rfcSubproof(3, forked, true)),
		consistency("consistency-fork-same-size", "two roots for 7 leaves", "security", forked, 7, 7, nil),
		consistency("consistency-rollback", "7 leaves then 3", "security", leaves, 7, 3, nil),
		consistency("consistency-tampered-proof", "first hash of the 3-7 proof replaced", "security", leaves, 3, 7, badProof),
	}
	for _, err := range steps {
		if err != nil {
			return nil, err
		}
	}

	return encode(&vectors.File[vectors.KTCase]{
		Description: "Sealpost key transparency: log entries, signed checkpoints, inclusion and consistency proofs",
		Spec:        "spec/transparency.md",
		Cases:       cases,
	})
}

func equalHashes(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
