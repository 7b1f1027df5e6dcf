package e2e_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/crypto/keys"
)

// A scanner looks for secrets in files: text markers and private key byte
// strings, as raw bytes and inside any hex or base64 (standard or URL
// alphabet, any alignment) run of the file. Rather than encoding every
// secret every way, it decodes every run of the file every way and looks
// for the raw secrets in the results.
type scanner struct {
	markers [][]byte            // found anywhere in a view
	secrets map[uint64][]secret // by their first 8 bytes
	count   int
}

// secret is a private key byte string and where it came from.
type secret struct {
	b    []byte
	name string
}

// minSecret is the shortest secret a scanner takes: every private key is
// 32 bytes or longer.
const minSecret = 16

// minRun is the shortest hex or base64 run decoded: a 16-byte secret or a
// marker is longer than this in either encoding.
const minRun = 16

func newScanner(markers ...string) *scanner {
	s := &scanner{secrets: map[uint64][]secret{}}
	for _, m := range markers {
		s.markers = append(s.markers, []byte(m))
	}
	return s
}

// addSecret adds a private key byte string.
func (s *scanner) addSecret(t *testing.T, name string, b []byte) {
	t.Helper()
	if len(b) < minSecret {
		t.Fatalf("secret %s is %d bytes, shorter than %d", name, len(b), minSecret)
	}
	if bytes.Count(b, b[:1]) == len(b) {
		t.Fatalf("secret %s is %d times the same byte", name, len(b))
	}
	k := binary.LittleEndian.Uint64(b)
	for _, o := range s.secrets[k] {
		if bytes.Equal(o.b, b) {
			return
		}
	}
	s.secrets[k] = append(s.secrets[k], secret{bytes.Clone(b), name})
	s.count++
}

// finding is one secret found in a file.
type finding struct {
	file string
	what string // the marker or the secret's name
	how  string // raw, hex, base64
}

func (f finding) String() string { return fmt.Sprintf("%s: %s (%s)", f.file, f.what, f.how) }

// scanFile returns what s finds in the file.
func (s *scanner) scanFile(t *testing.T, path string) []finding {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return s.scan(path, data)
}

// scan returns what s finds in data.
func (s *scanner) scan(name string, data []byte) []finding {
	var out []finding
	seen := map[string]bool{}
	add := func(what, how string) {
		if !seen[what+how] {
			seen[what+how] = true
			out = append(out, finding{name, what, how})
		}
	}
	for _, v := range views(data) {
		for _, m := range s.markers {
			if bytes.Contains(v.b, m) {
				add(string(m), v.how)
			}
		}
		for i := 0; i+8 <= len(v.b); i++ {
			for _, sec := range s.secrets[binary.LittleEndian.Uint64(v.b[i:])] {
				if bytes.HasPrefix(v.b[i:], sec.b) {
					add(sec.name, v.how)
				}
			}
		}
	}
	return out
}

// view is data as it is, or one decoding of one of its runs.
type view struct {
	b   []byte
	how string
}

// views returns data and the decodings of its hex and base64 runs at
// every alignment.
func views(data []byte) []view {
	vs := []view{{data, "raw"}}
	for _, run := range runs(data, isHex) {
		for off := range 2 {
			r := run[off:]
			r = r[:len(r)/2*2]
			b := make([]byte, len(r)/2)
			if _, err := hex.Decode(b, r); err == nil {
				vs = append(vs, view{b, "hex"})
			}
		}
	}
	for _, run := range runs(data, isBase64) {
		// One decoding serves both alphabets.
		norm := bytes.Map(func(r rune) rune {
			switch r {
			case '-':
				return '+'
			case '_':
				return '/'
			}
			return r
		}, run)
		for off := range 4 {
			r := norm[off:]
			r = r[:len(r)/4*4]
			if b, err := base64.RawStdEncoding.DecodeString(string(r)); err == nil {
				vs = append(vs, view{b, "base64"})
			}
		}
	}
	return vs
}

// runs returns the maximal runs of bytes in data for which in holds, of
// at least minRun bytes.
func runs(data []byte, in func(byte) bool) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i <= len(data); i++ {
		if i < len(data) && in(data[i]) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 && i-start >= minRun {
			out = append(out, data[start:i])
		}
		start = -1
	}
	return out
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isBase64(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '+' || c == '/' || c == '-' || c == '_'
}

// scanTree scans every regular file under root and returns what it found
// and how many bytes it read.
func (s *scanner) scanTree(t *testing.T, root string) (found []finding, files map[string]int64) {
	t.Helper()
	files = map[string]int64{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		files[rel] = fi.Size()
		found = append(found, s.scanFile(t, path)...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found, files
}

// addStoreSecrets opens a closed client's store with the test passphrase
// and adds its private keys to s: the identity's account, signing and
// X25519 keys and every prekey secret of the four kinds.
func (s *scanner) addStoreSecrets(t *testing.T, dir, handle string) {
	t.Helper()
	ctx := context.Background()
	st, err := localstore.Open(ctx, dir, localstore.Passphrase([]byte(passphrase)))
	if err != nil {
		t.Fatalf("open %s's store: %v", handle, err)
	}
	defer st.Close()
	err = st.View(ctx, func(tx localstore.Tx) error {
		id, err := tx.Identity()
		if err != nil {
			return err
		}
		if id.AccountSeed == nil {
			return fmt.Errorf("%s's store holds no account key", handle)
		}
		s.addSecret(t, handle+" account seed", id.AccountSeed)
		s.addSecret(t, handle+" device signing seed", id.SigningSeed)
		s.addSecret(t, handle+" device X25519 key", id.DHPrivate)
		n := 0
		for _, kind := range []keys.PrekeyKind{keys.SignedPrekey, keys.OneTimePrekey, keys.LastResortKEMPrekey, keys.OneTimeKEMPrekey} {
			pks, err := tx.Prekeys(uint8(kind))
			if err != nil {
				return err
			}
			if len(pks) == 0 {
				return fmt.Errorf("%s's store holds no %v", handle, kind)
			}
			for _, pk := range pks {
				s.addSecret(t, fmt.Sprintf("%s %v %d", handle, kind, pk.ID), pk.Secret)
				n++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestScanner is the scanner's positive control: it finds a marker and a
// key planted raw, as hex and as base64 of either alphabet at every
// alignment, inside binary noise and inside text, and finds nothing in
// noise alone.
func TestScanner(t *testing.T) {
	t.Parallel()
	marker := "PLAINTEXT-MARKER-0123456789abcdef"
	key := bytes.Repeat([]byte{0x5a, 0xa5, 0x01, 0xfe}, 8)
	key[0] = 0x42
	s := newScanner(marker)
	s.addSecret(t, "test key", key)

	noise := make([]byte, 4096)
	for i := range noise {
		noise[i] = byte(i*7 + i/256) // deterministic, not text
	}
	if got := s.scan("noise", noise); len(got) != 0 {
		t.Fatalf("found %v in noise", got)
	}
	encodings := map[string]func([]byte) string{
		"raw":         func(b []byte) string { return string(b) },
		"hex":         hex.EncodeToString,
		"HEX":         func(b []byte) string { return fmt.Sprintf("%X", b) },
		"std":         base64.StdEncoding.EncodeToString,
		"url":         base64.URLEncoding.EncodeToString,
		"rawurl":      base64.RawURLEncoding.EncodeToString,
		"rawstd":      base64.RawStdEncoding.EncodeToString,
		"json-string": func(b []byte) string { return fmt.Sprintf("%q", b) },
	}
	for name, enc := range encodings {
		for prefix := range 4 {
			for _, secretName := range []string{marker, "test key"} {
				plain := []byte(marker)
				if secretName == "test key" {
					plain = key
				}
				if name == "json-string" && secretName == "test key" {
					continue // not an encoding the scanner undoes
				}
				// The secret inside a larger value, at every
				// alignment, inside text inside binary noise.
				inner := append(bytes.Repeat([]byte("x"), prefix), plain...)
				inner = append(inner, "tail"...)
				file := append(bytes.Clone(noise[:100]), `{"v":"`...)
				file = append(file, enc(inner)...)
				file = append(file, `"}`...)
				file = append(file, noise[100:]...)
				found := s.scan("control", file)
				if len(found) == 0 || found[0].what != secretName {
					t.Errorf("%s of %s at offset %d: found %v", name, secretName, prefix, found)
				}
			}
		}
	}
}
