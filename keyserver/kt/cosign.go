package kt

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// Witness cosignatures (spec/transparency-v2.md §7): a witness cosigns a
// checkpoint with a C2SP tlog-cosignature/v1 Ed25519 cosignature, the same
// timestamped signature the log key makes of its own checkpoints
// (spec/transparency.md §5.3): one implementation, timestampVerifier.

// Limits of spec/transparency-v2.md §7.
const (
	// MaxWitnesses is the largest number of witnesses a policy names.
	MaxWitnesses = 16
	// MaxCosignatureLines is the most signature lines ParseCosignatures
	// reads from one witness answer.
	MaxCosignatureLines = 16
	// MaxWitnessNameLen is the longest witness name accepted.
	MaxWitnessNameLen = 255
)

var (
	// ErrNoQuorum reports a checkpoint that fewer than the required number
	// of configured witnesses cosigned (spec/transparency-v2.md §7.4).
	ErrNoQuorum = errors.New("kt: checkpoint lacks a quorum of witness cosignatures")
	// ErrWitnessPolicy reports a witness policy that cannot be used: a
	// quorum out of range, or two witnesses with one name or one key.
	ErrWitnessPolicy = errors.New("kt: invalid witness policy")
)

// Witness is a witness a client trusts: its name (the key name of its
// cosignature lines) and its Ed25519 public key.
type Witness struct {
	Name string
	Key  ed25519.PublicKey
}

// checkWitnessName applies spec/transparency-v2.md §7.1 to a witness
// name: 1 to MaxWitnessNameLen bytes of printable ASCII other than '+'.
func checkWitnessName(name string) error {
	if name == "" || len(name) > MaxWitnessNameLen {
		return malformed("witness name length %d not in [1, %d]", len(name), MaxWitnessNameLen)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x21 || c > 0x7e || c == '+' {
			return malformed("witness name byte %d not allowed", i)
		}
	}
	return nil
}

// ParseWitness reads a witness's verifier key, "<name>+<key id, 8 hex
// digits>+<base64(0x04 || pub)>" (spec/transparency-v2.md §7.1). Only the
// canonical form is accepted.
func ParseWitness(vkey string) (Witness, error) {
	name, rest, _ := strings.Cut(vkey, "+")
	_, key64, _ := strings.Cut(rest, "+")
	key, err := base64.StdEncoding.DecodeString(key64)
	if err != nil || len(key) != 1+ed25519.PublicKeySize || key[0] != algCosignature {
		return Witness{}, malformed("witness key is not an Ed25519 cosignature/v1 key")
	}
	w := Witness{Name: name, Key: ed25519.PublicKey(key[1:])}
	canonical, err := w.VerifierKey()
	if err != nil {
		return Witness{}, err
	}
	if canonical != vkey {
		return Witness{}, malformed("witness key is not canonical (wrong key id or encoding)")
	}
	return w, nil
}

// VerifierKey returns the witness's verifier key text (ParseWitness reads it).
func (w Witness) VerifierKey() (string, error) {
	if err := checkWitnessName(w.Name); err != nil {
		return "", err
	}
	if len(w.Key) != ed25519.PublicKeySize {
		return "", malformed("witness public key length %d", len(w.Key))
	}
	return fmt.Sprintf("%s+%08x+%s", w.Name, keyHash(w.Name, algCosignature, w.Key),
		base64.StdEncoding.EncodeToString(append([]byte{algCosignature}, w.Key...))), nil
}

// verifier returns the note verifier of w's cosignatures.
func (w Witness) verifier() *timestampVerifier {
	return &timestampVerifier{name: w.Name, hash: keyHash(w.Name, algCosignature, w.Key), pub: w.Key}
}

// CosignatureLine is one signed-note signature line: "— <name>
// <base64(key id || signature)>\n" (C2SP signed-note).
type CosignatureLine struct {
	Name string
	Hash uint32
	Sig  []byte // after the key id
}

// Marshal returns the line, newline included.
func (l CosignatureLine) Marshal() []byte {
	raw := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(l.Sig)), l.Hash)
	raw = append(raw, l.Sig...)
	return []byte("— " + l.Name + " " + base64.StdEncoding.EncodeToString(raw) + "\n")
}

// ParseCosignatures reads what a witness answers to add-checkpoint: one
// or more signature lines, each "— <name> <base64>\n" (C2SP tlog-witness,
// spec/transparency-v2.md §7.3). Names follow §7.1, base64 is canonical
// and decodes to a key id and at least one byte. Lines are returned in
// order; Marshal of each, concatenated, gives body back. Anything else is
// ErrMalformed.
func ParseCosignatures(body []byte) ([]CosignatureLine, error) {
	if len(body) == 0 {
		return nil, malformed("no signature lines")
	}
	if body[len(body)-1] != '\n' {
		return nil, malformed("signature lines do not end in a newline")
	}
	lines := bytes.SplitAfter(body[:len(body)-1], []byte("\n"))
	if len(lines) > MaxCosignatureLines {
		return nil, malformed("%d signature lines, more than %d", len(lines), MaxCosignatureLines)
	}
	out := make([]CosignatureLine, 0, len(lines))
	for i, line := range lines {
		line = bytes.TrimSuffix(line, []byte("\n"))
		rest, ok := bytes.CutPrefix(line, []byte("— "))
		if !ok || !utf8.Valid(line) {
			return nil, malformed("line %d is not a signature line", i)
		}
		name, sig64, ok := bytes.Cut(rest, []byte(" "))
		if !ok {
			return nil, malformed("line %d has no signature", i)
		}
		if err := checkWitnessName(string(name)); err != nil {
			return nil, fmt.Errorf("line %d: %w", i, err)
		}
		raw, err := base64.StdEncoding.DecodeString(string(sig64))
		if err != nil || len(raw) < 5 || base64.StdEncoding.EncodeToString(raw) != string(sig64) {
			return nil, malformed("line %d: signature is not canonical base64 of a key id and a signature", i)
		}
		out = append(out, CosignatureLine{Name: string(name), Hash: binary.BigEndian.Uint32(raw), Sig: raw[4:]})
	}
	return out, nil
}

// Cosignature is a verified cosignature: witness Name said at Time that
// the checkpoint was the largest consistent tree it had seen of the log.
type Cosignature struct {
	Name string
	Time time.Time
}

// VerifyCosignature checks that line is w's valid cosignature of the
// checkpoint whose note text (origin, size and root lines) is text, and
// returns it. A line by another key (name or key id) or whose signature
// does not verify is ErrBadSignature.
func VerifyCosignature(w Witness, text []byte, line CosignatureLine) (Cosignature, error) {
	v := w.verifier()
	if line.Name != v.name || line.Hash != v.hash {
		return Cosignature{}, fmt.Errorf("%w: signature line is not by witness %s", ErrBadSignature, w.Name)
	}
	if !v.Verify(text, line.Sig) {
		return Cosignature{}, fmt.Errorf("%w: cosignature by witness %s does not verify", ErrBadSignature, w.Name)
	}
	return Cosignature{Name: w.Name, Time: time.Unix(int64(binary.BigEndian.Uint64(line.Sig)), 0).UTC()}, nil
}

// CheckPolicy checks a witness policy (spec/transparency-v2.md §7.4):
// 1 to MaxWitnesses witnesses with valid names and keys, no two with one
// name or one public key (a cosignature/v1 does not commit to the name, so
// one key under two names would count twice), none with the log's own
// cosignature key, and 1 ≤ quorum ≤ len(witnesses). v may be nil.
func CheckPolicy(v *Verifier, witnesses []Witness, quorum int) error {
	if len(witnesses) == 0 || len(witnesses) > MaxWitnesses {
		return fmt.Errorf("%w: %d witnesses, want 1 to %d", ErrWitnessPolicy, len(witnesses), MaxWitnesses)
	}
	if quorum < 1 || quorum > len(witnesses) {
		return fmt.Errorf("%w: quorum %d of %d witnesses", ErrWitnessPolicy, quorum, len(witnesses))
	}
	names := make(map[string]bool, len(witnesses))
	keys := make(map[string]bool, len(witnesses))
	for _, w := range witnesses {
		if _, err := w.VerifierKey(); err != nil {
			return fmt.Errorf("%w: witness %q: %w", ErrWitnessPolicy, w.Name, err)
		}
		if names[w.Name] || keys[string(w.Key)] {
			return fmt.Errorf("%w: witness %q named twice or sharing a key", ErrWitnessPolicy, w.Name)
		}
		if v != nil && bytes.Equal(w.Key, v.ts.pub) {
			return fmt.Errorf("%w: witness %q has the log's own key", ErrWitnessPolicy, w.Name)
		}
		names[w.Name], keys[string(w.Key)] = true, true
	}
	return nil
}

// VerifyCosigned opens signed, a checkpoint with cosignature lines
// appended to its signatures, with the log's verifier v (OpenCheckpoint),
// and checks that at least quorum of witnesses cosigned it
// (spec/transparency-v2.md §7.4). Each witness counts once, however many
// valid lines it has; lines by keys not in witnesses, and lines by a
// configured witness that do not verify, count for nothing and are not an
// error (anyone on the path can add a line). Too few: ErrNoQuorum. The
// cosignatures counted are returned in the order of witnesses. An invalid
// policy is ErrWitnessPolicy; errors of OpenCheckpoint pass through.
func VerifyCosigned(signed []byte, v *Verifier, witnesses []Witness, quorum int) (*Checkpoint, []Cosignature, error) {
	if v == nil {
		return nil, nil, errors.New("kt: VerifyCosigned without a log verifier")
	}
	if err := CheckPolicy(v, witnesses, quorum); err != nil {
		return nil, nil, err
	}
	cp, err := v.OpenCheckpoint(signed)
	if err != nil {
		return nil, nil, err
	}
	// OpenCheckpoint succeeded, so note.Open does too; the witnesses'
	// lines are among its unverified signatures.
	n, err := note.Open(signed, note.VerifierList(v.v, v.ts))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: checkpoint: %w", ErrMalformed, err)
	}
	text := []byte(n.Text)
	var got []Cosignature
	for _, w := range witnesses {
		wv := w.verifier()
		for _, s := range n.UnverifiedSigs {
			if s.Name != wv.name || s.Hash != wv.hash {
				continue
			}
			raw, err := base64.StdEncoding.DecodeString(s.Base64)
			if err != nil || len(raw) < 4 {
				continue
			}
			c, err := VerifyCosignature(w, text, CosignatureLine{Name: s.Name, Hash: s.Hash, Sig: raw[4:]})
			if err == nil {
				got = append(got, c)
				break
			}
		}
	}
	if len(got) < quorum {
		return nil, got, fmt.Errorf("%w: %d of %d required", ErrNoQuorum, len(got), quorum)
	}
	return cp, got, nil
}

// AppendCosignatures returns signed with the lines appended to its
// signatures (spec/transparency-v2.md §7.3): what the key server serves.
// signed must be a signed note (ending in a signature line); lines
// repeating one already there are left out.
func AppendCosignatures(signed []byte, lines []CosignatureLine) ([]byte, error) {
	i := bytes.LastIndex(signed, []byte("\n\n"))
	if i < 0 || len(signed) == 0 || signed[len(signed)-1] != '\n' {
		return nil, malformed("not a signed note")
	}
	out := bytes.Clone(signed)
	for _, l := range lines {
		m := l.Marshal()
		if bytes.Contains(out[i+1:], m) {
			continue
		}
		out = append(out, m...)
	}
	if len(out) > MaxCheckpointSize {
		return nil, malformed("cosigned checkpoint of %d bytes, more than %d", len(out), MaxCheckpointSize)
	}
	return out, nil
}

// NewCosigner returns the note signer of witness name's cosignature at
// time t with priv: a C2SP tlog-cosignature/v1 Ed25519 cosignature, made
// exactly as the log key's timestamped signature (NewTimestampSigner,
// spec/transparency.md §5.3). Witnesses run their own implementation; this
// one serves tests and vectors.
func NewCosigner(name string, priv ed25519.PrivateKey, t time.Time) (note.Signer, error) {
	if err := checkWitnessName(name); err != nil {
		return nil, err
	}
	return NewTimestampSigner(name, priv, t)
}
