package fuzz

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strconv"
	"testing"

	"github.com/sealpost/sealpost/internal/vectors"
	"github.com/sealpost/sealpost/keyserver/kt"
)

func ktVectors(f *testing.F) []vectors.KTCase {
	f.Helper()
	v, err := vectors.Load[vectors.KTCase]("kt.json")
	if err != nil {
		f.Fatal(err)
	}
	return v.Cases
}

// FuzzKTEntry parses arbitrary bytes as a transparency log entry
// (spec/transparency.md §2) and verifies what parses. Seeds are every entry
// of spec/vectors/kt.json, valid and refused.
//
// Checks: no panic; ParseEntry refuses with ErrMalformed only and leaves
// its input alone; an accepted entry re-encodes to the same bytes; Verify
// refuses with ErrBadSignature only (the structure was already checked) and
// changes nothing.
func FuzzKTEntry(f *testing.F) {
	n := 0
	for _, c := range ktVectors(f) {
		if c.Entry != nil {
			f.Add(bytes.Clone(c.Entry.Leaf))
			n++
		}
	}
	if n == 0 {
		f.Fatal("no entry vectors")
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		e, err := kt.ParseEntry(data)
		if !bytes.Equal(in, data) {
			t.Fatal("ParseEntry modified its input")
		}
		if err != nil {
			if !errors.Is(err, kt.ErrMalformed) || e != nil {
				t.Fatalf("ParseEntry = %v, %v", e, err)
			}
			return
		}
		if !bytes.Equal(e.Marshal(), data) {
			t.Fatal("accepted entry does not re-encode to the same bytes")
		}
		if err := e.Verify(); err != nil && !errors.Is(err, kt.ErrBadSignature) {
			t.Fatalf("Verify error of unknown kind: %v", err)
		}
		if !bytes.Equal(e.Marshal(), data) {
			t.Fatal("Verify changed the entry")
		}
	})
}

// FuzzKTCheckpoint opens arbitrary bytes as a signed checkpoint
// (spec/transparency.md §4, §5) with the verifier key of the vectors. Seeds
// are every checkpoint of spec/vectors/kt.json, valid and refused.
//
// Checks: no panic; OpenCheckpoint leaves its input alone and refuses with
// ErrMalformed, ErrBadSignature or ErrSecurity only; an accepted
// checkpoint names the verifier's origin, keeps the exact input as Signed,
// and its three fields re-format to exactly the signed body the input
// starts with.
func FuzzKTCheckpoint(f *testing.F) {
	var vkey string
	for _, c := range ktVectors(f) {
		if c.Checkpoint != nil {
			vkey = c.Checkpoint.VerifierKey
			f.Add([]byte(c.Checkpoint.Signed))
		}
	}
	if vkey == "" {
		f.Fatal("no checkpoint vectors")
	}
	v, err := kt.NewVerifier(vkey)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		cp, err := v.OpenCheckpoint(data)
		if !bytes.Equal(in, data) {
			t.Fatal("OpenCheckpoint modified its input")
		}
		if err != nil {
			if cp != nil || !(errors.Is(err, kt.ErrMalformed) || errors.Is(err, kt.ErrBadSignature) || errors.Is(err, kt.ErrSecurity)) {
				t.Fatalf("OpenCheckpoint = %v, %v", cp, err)
			}
			return
		}
		if cp.Origin != v.Origin() || !bytes.Equal(cp.Signed, data) || cp.Size < 0 || cp.Size > kt.MaxTreeSize {
			t.Fatalf("accepted checkpoint %+v", cp)
		}
		body := cp.Origin + "\n" + strconv.FormatInt(cp.Size, 10) + "\n" + base64.StdEncoding.EncodeToString(cp.Root[:]) + "\n\n"
		if !bytes.HasPrefix(data, []byte(body)) {
			t.Fatal("accepted checkpoint does not re-format to its signed body")
		}
	})
}
