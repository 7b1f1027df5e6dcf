package kt_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/sealpost/sealpost/keyserver/kt"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func TestVerifierKeyMatchesNote(t *testing.T) {
	k := logKey(t, "kt/log")
	vk, err := kt.VerifierKey(testOrigin, pub(k))
	if err != nil {
		t.Fatal(err)
	}
	want, err := note.NewEd25519VerifierKey(testOrigin, pub(k))
	if err != nil {
		t.Fatal(err)
	}
	if vk != want {
		t.Fatalf("VerifierKey = %s, note says %s", vk, want)
	}
	nv, err := note.NewVerifier(vk)
	if err != nil {
		t.Fatal(err)
	}
	s, err := kt.NewSigner(testOrigin, k)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != testOrigin || s.KeyHash() != nv.KeyHash() {
		t.Fatalf("signer %s+%08x, verifier %s+%08x", s.Name(), s.KeyHash(), nv.Name(), nv.KeyHash())
	}
	// A checkpoint signed through kt opens with note's own verifier.
	signed, err := kt.SignCheckpoint(s, testOrigin, 1, tlog.RecordHash([]byte("x")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(signed, note.VerifierList(nv)); err != nil {
		t.Fatal(err)
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	k := logKey(t, "kt/log")
	v := newVerifier(t, testOrigin, k)
	s, err := kt.NewSigner(testOrigin, k)
	if err != nil {
		t.Fatal(err)
	}
	root := tlog.RecordHash([]byte("leaf"))
	for _, size := range []int64{1, 10, kt.MaxTreeSize} {
		signed, err := kt.SignCheckpoint(s, testOrigin, size, root)
		if err != nil {
			t.Fatal(err)
		}
		cp, err := v.OpenCheckpoint(signed)
		if err != nil {
			t.Fatal(err)
		}
		if cp.Origin != testOrigin || cp.Size != size || cp.Root != root || !bytes.Equal(cp.Signed, signed) {
			t.Fatalf("opened %+v", cp)
		}
		body := testOrigin + "\n" + itoa(size) + "\n" + base64.StdEncoding.EncodeToString(root[:]) + "\n\n"
		if !strings.HasPrefix(string(signed), body+"— "+testOrigin+" ") {
			t.Fatalf("signed note:\n%s", signed)
		}
	}
	empty := tlog.Hash(sha256.Sum256(nil))
	signed, err := kt.SignCheckpoint(s, testOrigin, 0, empty)
	if err != nil {
		t.Fatal(err)
	}
	if cp, err := v.OpenCheckpoint(signed); err != nil || cp.Size != 0 || cp.Root != empty {
		t.Fatalf("empty checkpoint: %v, %v", cp, err)
	}
	if _, err := kt.SignCheckpoint(s, testOrigin, 0, root); !errors.Is(err, kt.ErrMalformed) {
		t.Fatalf("SignCheckpoint(0, non-empty root) = %v", err)
	}
	if _, err := kt.SignCheckpoint(s, testOrigin, kt.MaxTreeSize+1, root); !errors.Is(err, kt.ErrMalformed) {
		t.Fatalf("SignCheckpoint(2^62+1) = %v", err)
	}
	if _, err := kt.SignCheckpoint(s, "other.org/keyserver", 1, root); err == nil {
		t.Fatal("SignCheckpoint with another log's origin succeeded")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// signRaw signs arbitrary note text with the log's key, as a misbehaving
// (or buggy) server could.
func signRaw(t *testing.T, text string) []byte {
	t.Helper()
	s, err := kt.NewSigner(testOrigin, logKey(t, "kt/log"))
	if err != nil {
		t.Fatal(err)
	}
	signed, err := note.Sign(&note.Note{Text: text}, s)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func TestOpenCheckpointRefuses(t *testing.T) {
	k := logKey(t, "kt/log")
	v := newVerifier(t, testOrigin, k)
	s, _ := kt.NewSigner(testOrigin, k)
	root := tlog.RecordHash([]byte("leaf"))
	rootText := base64.StdEncoding.EncodeToString(root[:])
	good, err := kt.SignCheckpoint(s, testOrigin, 5, root)
	if err != nil {
		t.Fatal(err)
	}
	otherKey := logKey(t, "kt/other")
	sameName, _ := kt.NewSigner(testOrigin, otherKey)
	forged, _ := kt.SignCheckpoint(sameName, testOrigin, 5, root)
	otherName, _ := kt.NewSigner("evil.org/keyserver", otherKey)
	forged2, _ := kt.SignCheckpoint(otherName, "evil.org/keyserver", 5, root)
	edited := bytes.Replace(bytes.Clone(good), []byte("\n5\n"), []byte("\n6\n"), 1)
	sig := bytes.Clone(good)
	sig[len(sig)-5] ^= 1 // inside the base64 signature

	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"other key, same name", forged, kt.ErrBadSignature},
		{"other key, other name", forged2, kt.ErrBadSignature},
		{"body edited", edited, kt.ErrBadSignature},
		{"signature edited", sig, kt.ErrBadSignature},
		{"no signature", good[:bytes.Index(good, []byte("\n\n"))+2], kt.ErrMalformed},
		{"not a note", []byte("hello"), kt.ErrMalformed},
		{"too long", append(bytes.Repeat([]byte("a"), kt.MaxCheckpointSize), good...), kt.ErrMalformed},
		{"extension line", signRaw(t, testOrigin+"\n5\n"+rootText+"\nextension\n"), kt.ErrMalformed},
		{"missing root", signRaw(t, testOrigin+"\n5\n"), kt.ErrMalformed},
		{"wrong origin", signRaw(t, "other.org/keyserver\n5\n"+rootText+"\n"), kt.ErrMalformed},
		{"leading zero", signRaw(t, testOrigin+"\n05\n"+rootText+"\n"), kt.ErrMalformed},
		{"plus sign", signRaw(t, testOrigin+"\n+5\n"+rootText+"\n"), kt.ErrMalformed},
		{"negative", signRaw(t, testOrigin+"\n-5\n"+rootText+"\n"), kt.ErrMalformed},
		{"size over 2^62", signRaw(t, testOrigin+"\n4611686018427387905\n"+rootText+"\n"), kt.ErrMalformed},
		{"root url base64", signRaw(t, testOrigin+"\n5\n"+base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, 32))+"\n"), kt.ErrMalformed},
		{"root unpadded", signRaw(t, testOrigin+"\n5\n"+strings.TrimRight(rootText, "=")+"\n"), kt.ErrMalformed},
		{"root 31 bytes", signRaw(t, testOrigin+"\n5\n"+base64.StdEncoding.EncodeToString(root[:31])+"\n"), kt.ErrMalformed},
		{"root non-canonical bits", signRaw(t, testOrigin+"\n5\n"+rootText[:42]+nextB64(rootText[42])+"=\n"), kt.ErrMalformed},
		{"empty tree, wrong root", signRaw(t, testOrigin+"\n0\n"+rootText+"\n"), kt.ErrSecurity},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			saved := bytes.Clone(c.in)
			cp, err := v.OpenCheckpoint(c.in)
			if !errors.Is(err, c.want) || cp != nil {
				t.Fatalf("OpenCheckpoint = %v, %v; want %v", cp, err, c.want)
			}
			if !bytes.Equal(c.in, saved) {
				t.Fatal("OpenCheckpoint changed its input")
			}
		})
	}
	// A cosignature by another key is ignored.
	other, _ := note.NewSigner(mustSkey(t))
	n, err := note.Open(good, note.VerifierList(mustVerifier(t, s)))
	if err != nil {
		t.Fatal(err)
	}
	cosigned, err := note.Sign(n, other)
	if err != nil {
		t.Fatal(err)
	}
	if cp, err := v.OpenCheckpoint(cosigned); err != nil || cp.Size != 5 {
		t.Fatalf("cosigned checkpoint: %v, %v", cp, err)
	}
}

// nextB64 returns the base64 character after c, which has the same high
// bits when c encodes the last, partial group.
func nextB64(c byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	return string(alphabet[(strings.IndexByte(alphabet, c)+1)%64])
}

func mustSkey(t *testing.T) string {
	skey, _, err := note.GenerateKey(zeroReader{}, "witness.example")
	if err != nil {
		t.Fatal(err)
	}
	return skey
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func mustVerifier(t *testing.T, s note.Signer) note.Verifier {
	vk, err := kt.VerifierKey(s.Name(), pub(logKey(t, "kt/log")))
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vk)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestNewVerifierRefuses(t *testing.T) {
	k := logKey(t, "kt/log")
	vk, _ := kt.VerifierKey(testOrigin, pub(k))
	name, rest, _ := strings.Cut(vk, "+")
	hash, key, _ := strings.Cut(rest, "+")
	raw, _ := base64.StdEncoding.DecodeString(key)
	for n, bad := range map[string]string{
		"empty":          "",
		"wrong hash":     name + "+00000000+" + key,
		"upper-case hex": name + "+" + strings.ToUpper(hash) + "+" + key,
		"algorithm 2":    name + "+" + hash + "+" + base64.StdEncoding.EncodeToString(append([]byte{2}, raw[1:]...)),
		"short key":      name + "+" + hash + "+" + base64.StdEncoding.EncodeToString(raw[:32]),
		"space in name":  "a b+" + hash + "+" + key,
		"trailing":       vk + "\n",
	} {
		if v, err := kt.NewVerifier(bad); !errors.Is(err, kt.ErrMalformed) || v != nil {
			t.Errorf("%s: NewVerifier = %v, %v", n, v, err)
		}
	}
	if strings.ToUpper(hash) == hash {
		t.Log("key id has no hex letters; upper-case case is vacuous")
	}
	v, err := kt.NewVerifier(vk)
	if err != nil || v.Origin() != testOrigin || v.Key() != vk {
		t.Fatalf("NewVerifier = %v, %v", v, err)
	}
}

func TestNewSignerRefuses(t *testing.T) {
	k := logKey(t, "kt/log")
	for _, origin := range []string{"", "a b", "a+b", "a\nb", strings.Repeat("a", kt.MaxOriginLen+1), "é"} {
		if _, err := kt.NewSigner(origin, k); !errors.Is(err, kt.ErrMalformed) {
			t.Errorf("NewSigner(%q) = %v", origin, err)
		}
		if _, err := kt.VerifierKey(origin, pub(k)); !errors.Is(err, kt.ErrMalformed) {
			t.Errorf("VerifierKey(%q) = %v", origin, err)
		}
	}
	if _, err := kt.NewSigner(testOrigin, k[:32]); !errors.Is(err, kt.ErrMalformed) {
		t.Errorf("NewSigner(short key) = %v", err)
	}
	bad := bytes.Clone(k)
	bad[40] ^= 1
	if _, err := kt.NewSigner(testOrigin, bad); !errors.Is(err, kt.ErrMalformed) {
		t.Errorf("NewSigner(mismatched public half) = %v", err)
	}
}

// TestOpenCheckpointRemembers: a note opened before is opened again
// without its signatures checked anew, but only the same bytes are: a
// note that differs in any byte is verified, and what a caller does to
// an opened checkpoint does not change what the next one gets.
func TestOpenCheckpointRemembers(t *testing.T) {
	k := logKey(t, "kt/log")
	v := newVerifier(t, testOrigin, k)
	s, err := kt.NewSigner(testOrigin, k)
	if err != nil {
		t.Fatal(err)
	}
	root := tlog.RecordHash([]byte("leaf"))
	signed, err := kt.SignCheckpoint(s, testOrigin, 7, root)
	if err != nil {
		t.Fatal(err)
	}
	first, err := v.OpenCheckpoint(signed)
	if err != nil {
		t.Fatal(err)
	}
	first.Size, first.Signed[0] = 8, 'X' // the caller's copy
	// The same text with the last signature byte changed.
	forged := bytes.Clone(signed)
	i := bytes.LastIndexByte(forged, '\n') - 2
	forged[i] ^= 'A' ^ 'B'
	if forged[i] == signed[i] {
		forged[i] ^= 1
	}
	if _, err := v.OpenCheckpoint(forged); err == nil {
		t.Fatal("a note with a changed signature opened after the right one")
	}
	again, err := v.OpenCheckpoint(signed)
	if err != nil {
		t.Fatal(err)
	}
	if again.Size != 7 || again.Root != root || !bytes.Equal(again.Signed, signed) {
		t.Fatalf("opened again: %+v", again)
	}
	// Another log's verifier does not share what this one opened.
	other := newVerifier(t, testOrigin, logKey(t, "kt/other"))
	if _, err := other.OpenCheckpoint(signed); !errors.Is(err, kt.ErrBadSignature) {
		t.Fatalf("another key's verifier: %v", err)
	}
}
