package kt

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// algEd25519 is the signed-note algorithm byte of an Ed25519 key
// (spec/transparency.md §5.1).
const algEd25519 = 0x01

// Checkpoint is a verified checkpoint: the log named Origin had Size leaves
// and root hash Root (spec/transparency.md §4). Signed is the signed note
// it was read from, to pin and to show others.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
	// Time is when the log key last signed the checkpoint, from its
	// timestamped signature (spec/transparency.md §5.3); the zero time if
	// the note carries none.
	Time   time.Time
	Signed []byte
}

// Pin is the checkpoint a client has pinned: the newest it has verified
// (spec/transparency.md §7).
type Pin = Checkpoint

// emptyRoot is the RFC 6962 hash of the empty tree, SHA-256 of no bytes.
var emptyRoot = tlog.Hash(sha256.Sum256(nil))

// checkOrigin applies spec/transparency.md §4.1 to an origin: 1 to
// MaxOriginLen bytes of printable ASCII (0x21–0x7e) other than '+'.
func checkOrigin(origin string) error {
	if origin == "" || len(origin) > MaxOriginLen {
		return malformed("origin length %d not in [1, %d]", len(origin), MaxOriginLen)
	}
	for i := 0; i < len(origin); i++ {
		if c := origin[i]; c < 0x21 || c > 0x7e || c == '+' {
			return malformed("origin byte %d not allowed", i)
		}
	}
	return nil
}

// keyHash is a signed-note key id (spec/transparency.md §5.1, §5.3): the
// first four bytes, big-endian, of SHA-256(name || "\n" || alg || pub).
func keyHash(name string, alg byte, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', alg})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// VerifierKey returns the signed-note verifier key of the log named origin
// with public key pub: "<origin>+<key id, 8 hex digits>+<base64(0x01 ||
// pub)>" (spec/transparency.md §5.1). Clients configure it, and the key
// server publishes it.
func VerifierKey(origin string, pub ed25519.PublicKey) (string, error) {
	if err := checkOrigin(origin); err != nil {
		return "", err
	}
	if len(pub) != ed25519.PublicKeySize {
		return "", malformed("public key length %d", len(pub))
	}
	return fmt.Sprintf("%s+%08x+%s", origin, keyHash(origin, algEd25519, pub),
		base64.StdEncoding.EncodeToString(append([]byte{algEd25519}, pub...))), nil
}

// NewSigner returns the note signer of the log named origin, signing with
// priv (spec/transparency.md §5).
func NewSigner(origin string, priv ed25519.PrivateKey) (note.Signer, error) {
	if err := checkOrigin(origin); err != nil {
		return nil, err
	}
	if len(priv) != ed25519.PrivateKeySize {
		return nil, malformed("private key length %d", len(priv))
	}
	pub := ed25519.NewKeyFromSeed(priv.Seed()).Public().(ed25519.PublicKey)
	if !bytes.Equal(pub, priv[ed25519.SeedSize:]) {
		return nil, malformed("private key's public half does not match its seed")
	}
	skey := fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", origin, keyHash(origin, algEd25519, pub),
		base64.StdEncoding.EncodeToString(append([]byte{algEd25519}, priv.Seed()...)))
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("kt: signer: %w", err)
	}
	return s, nil
}

// formatCheckpoint is the note text of spec/transparency.md §4.
func formatCheckpoint(origin string, size int64, root tlog.Hash) string {
	return origin + "\n" + strconv.FormatInt(size, 10) + "\n" + base64.StdEncoding.EncodeToString(root[:]) + "\n"
}

// SignCheckpoint returns the signed note stating that the log named origin
// has size leaves and root hash root (spec/transparency.md §4, §5). The
// signer must be the log's (NewSigner with the same origin); extra signers
// (NewTimestampSigner, §5.3) add their lines after its. For size 0, root
// must be the empty tree's hash, which tlog.TreeHash(0, r) returns.
func SignCheckpoint(s note.Signer, origin string, size int64, root tlog.Hash, extra ...note.Signer) ([]byte, error) {
	if err := checkOrigin(origin); err != nil {
		return nil, err
	}
	if s == nil || s.Name() != origin {
		return nil, fmt.Errorf("kt: signer is not the key of log %q", origin)
	}
	for _, e := range extra {
		if e == nil || e.Name() != origin {
			return nil, fmt.Errorf("kt: extra signer is not a key of log %q", origin)
		}
	}
	if size < 0 || size > MaxTreeSize {
		return nil, malformed("tree size %d not in [0, 2^62]", size)
	}
	if size == 0 && root != emptyRoot {
		return nil, malformed("empty tree with a root other than SHA-256(\"\")")
	}
	signed, err := note.Sign(&note.Note{Text: formatCheckpoint(origin, size, root)}, append([]note.Signer{s}, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("kt: signing checkpoint: %w", err)
	}
	return signed, nil
}

// Verifier checks checkpoints of one log against its public key. It is
// safe for concurrent use.
type Verifier struct {
	origin string
	key    string
	v      note.Verifier
	ts     *timestampVerifier

	// opened holds the last notes OpenCheckpoint accepted, newest
	// first: a client checks the same few notes again and again (its pin,
	// the checkpoint every answer of an unchanged directory carries), and
	// the same bytes under the same key give the same checkpoint, so their
	// signatures are checked once.
	mu     sync.Mutex
	opened [openedCache]*Checkpoint
}

// openedCache is how many opened notes a Verifier remembers: the pin and
// the latest answers' checkpoint, with room for one more.
const openedCache = 4

// NewVerifier returns the verifier of the log whose verifier key is
// verifierKey (as VerifierKey writes it). Only the canonical form is
// accepted.
func NewVerifier(verifierKey string) (*Verifier, error) {
	name, rest, _ := strings.Cut(verifierKey, "+")
	_, key64, _ := strings.Cut(rest, "+")
	key, err := base64.StdEncoding.DecodeString(key64)
	if err != nil || len(key) != 1+ed25519.PublicKeySize || key[0] != algEd25519 {
		return nil, malformed("verifier key is not an Ed25519 note key")
	}
	canonical, err := VerifierKey(name, key[1:])
	if err != nil {
		return nil, err
	}
	if canonical != verifierKey {
		return nil, malformed("verifier key is not canonical (wrong key id or encoding)")
	}
	v, err := note.NewVerifier(verifierKey)
	if err != nil {
		return nil, fmt.Errorf("%w: verifier key: %w", ErrMalformed, err)
	}
	pub := ed25519.PublicKey(key[1:])
	ts := &timestampVerifier{name: name, hash: keyHash(name, algCosignature, pub), pub: pub}
	return &Verifier{origin: name, key: verifierKey, v: v, ts: ts}, nil
}

// Origin returns the name of the log the verifier checks.
func (v *Verifier) Origin() string { return v.origin }

// Key returns the verifier key text.
func (v *Verifier) Key() string { return v.key }

// OpenCheckpoint verifies signed and parses the checkpoint in it
// (spec/transparency.md §4.2). A note that the log's key did not sign is
// ErrBadSignature; signatures by other keys (for instance witnesses'
// cosignatures) are ignored. A body that is not exactly three canonical
// lines — origin equal to the key's name, decimal size, base64 root — is
// ErrMalformed. An empty tree whose root is not SHA-256("") is ErrSecurity:
// the log's key signed a false statement. The log key's timestamped
// signature (§5.3), if the note has one, must verify and gives Time.
func (v *Verifier) OpenCheckpoint(signed []byte) (*Checkpoint, error) {
	if cp := v.remembered(signed); cp != nil {
		return cp, nil
	}
	cp, err := v.open(signed)
	if err != nil {
		return nil, err
	}
	v.remember(cp)
	return cp, nil
}

// remembered returns a copy of the checkpoint OpenCheckpoint made of
// exactly these bytes recently, or nil.
func (v *Verifier) remembered(signed []byte) *Checkpoint {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, cp := range v.opened {
		if cp != nil && bytes.Equal(cp.Signed, signed) {
			c := *cp
			c.Signed = bytes.Clone(cp.Signed)
			return &c
		}
	}
	return nil
}

// remember keeps a copy of cp, which OpenCheckpoint accepted, as the
// newest remembered note.
func (v *Verifier) remember(cp *Checkpoint) {
	c := *cp
	c.Signed = bytes.Clone(cp.Signed)
	v.mu.Lock()
	defer v.mu.Unlock()
	copy(v.opened[1:], v.opened[:openedCache-1])
	v.opened[0] = &c
}

// open is OpenCheckpoint without the remembered notes.
func (v *Verifier) open(signed []byte) (*Checkpoint, error) {
	if len(signed) > MaxCheckpointSize {
		return nil, malformed("checkpoint of %d bytes, more than %d", len(signed), MaxCheckpointSize)
	}
	n, err := note.Open(signed, note.VerifierList(v.v, v.ts))
	if err != nil {
		var invalid *note.InvalidSignatureError
		var unverified *note.UnverifiedNoteError
		if errors.As(err, &invalid) || errors.As(err, &unverified) {
			return nil, fmt.Errorf("%w: checkpoint: %w", ErrBadSignature, err)
		}
		return nil, fmt.Errorf("%w: checkpoint: %w", ErrMalformed, err)
	}
	// The timestamp alone does not make a checkpoint: the log key's
	// plain signature must be there too (§4.2 step 3).
	if !slices.ContainsFunc(n.Sigs, func(s note.Signature) bool { return s.Hash == v.v.KeyHash() }) {
		return nil, fmt.Errorf("%w: checkpoint: no signature by the log key", ErrBadSignature)
	}
	stamp, err := timestampOf(n, v.ts.name, v.ts.hash)
	if err != nil {
		return nil, fmt.Errorf("%w: checkpoint: %w", ErrMalformed, err)
	}
	lines := strings.SplitAfter(n.Text, "\n")
	// The text ends in "\n", so SplitAfter leaves an empty last element.
	if len(lines) != 4 || lines[3] != "" {
		return nil, malformed("checkpoint has %d lines, want 3 (extension lines are not accepted)", len(lines)-1)
	}
	origin := strings.TrimSuffix(lines[0], "\n")
	if origin != v.origin {
		return nil, malformed("checkpoint origin %q is not the key's name %q", origin, v.origin)
	}
	sizeText := strings.TrimSuffix(lines[1], "\n")
	size, err := strconv.ParseInt(sizeText, 10, 64)
	if err != nil || size < 0 || size > MaxTreeSize || strconv.FormatInt(size, 10) != sizeText {
		return nil, malformed("checkpoint size %q is not a canonical decimal in [0, 2^62]", sizeText)
	}
	rootText := strings.TrimSuffix(lines[2], "\n")
	raw, err := base64.StdEncoding.DecodeString(rootText)
	if err != nil || len(raw) != tlog.HashSize || base64.StdEncoding.EncodeToString(raw) != rootText {
		return nil, malformed("checkpoint root is not the canonical base64 of 32 bytes")
	}
	cp := &Checkpoint{Origin: origin, Size: size, Time: stamp, Signed: bytes.Clone(signed)}
	copy(cp.Root[:], raw)
	if size == 0 && cp.Root != emptyRoot {
		return nil, security("log signed an empty tree with root %s", cp.Root)
	}
	return cp, nil
}
