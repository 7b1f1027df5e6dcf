package link

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"reflect"
	"strings"
	"testing"
)

func TestRecordRoundTrip(t *testing.T) {
	dev, _ := newResponder(t, "records")
	aik, cert := testCert(t, dev.Public())
	for _, r := range []Record{
		&Account{Certificate: cert, SnapshotSize: 0, SnapshotHash: sha256.Sum256(nil)},
		&Account{Certificate: cert, AccountSeed: aik.Seed(), SnapshotSize: MaxSnapshot},
		&SnapshotChunk{Data: []byte{0}},
		&SnapshotChunk{Data: bytes.Repeat([]byte{0xab}, MaxChunk)},
		&Linked{Device: 1},
		&Linked{Device: 0xffffffff},
		&Abort{},
		&Abort{Reason: 200, Text: "unknown reasons are kept"},
		&Abort{Reason: AbortDeclined, Text: strings.Repeat("é", MaxAbortText/2)},
	} {
		b, err := MarshalRecord(r)
		if err != nil {
			t.Fatalf("%T: %v", r, err)
		}
		got, err := ParseRecord(b)
		if err != nil {
			t.Fatalf("%T: %v", r, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Fatalf("got %#v, want %#v", got, r)
		}
		again, _ := MarshalRecord(got)
		if !bytes.Equal(again, b) {
			t.Fatalf("%T: marshal(parse(b)) != b", r)
		}
	}
}

func TestRecordLayouts(t *testing.T) {
	// spec/linking.md §8, byte by byte.
	b, _ := MarshalRecord(&Linked{Device: 0x01020304})
	if !bytes.Equal(b, []byte{0x03, 1, 2, 3, 4}) {
		t.Fatalf("Linked %x", b)
	}
	b, _ = MarshalRecord(&Abort{Reason: 2, Text: "hi"})
	if !bytes.Equal(b, []byte{0x04, 2, 2, 'h', 'i'}) {
		t.Fatalf("Abort %x", b)
	}
	b, _ = MarshalRecord(&SnapshotChunk{Data: []byte{7, 8}})
	if !bytes.Equal(b, []byte{0x02, 7, 8}) {
		t.Fatalf("SnapshotChunk %x", b)
	}
	dev, _ := newResponder(t, "layout")
	aik, cert := testCert(t, dev.Public())
	seed := aik.Seed()
	b, _ = MarshalRecord(&Account{Certificate: cert, AccountSeed: seed, SnapshotSize: 5, SnapshotHash: [32]byte{1}})
	c := cert.Marshal()
	want := []byte{0x01}
	want = binary.BigEndian.AppendUint16(want, uint16(len(c)))
	want = append(want, c...)
	want = append(want, 32)
	want = append(want, seed...)
	want = binary.BigEndian.AppendUint64(want, 5)
	want = append(want, 1)
	want = append(want, make([]byte, 31)...)
	if !bytes.Equal(b, want) {
		t.Fatalf("Account\n%x, want\n%x", b, want)
	}
}

func TestParseRecordRefusals(t *testing.T) {
	dev, _ := newResponder(t, "record refusals")
	aik, cert := testCert(t, dev.Public())
	acct, err := MarshalRecord(&Account{Certificate: cert, AccountSeed: aik.Seed(), SnapshotSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	c := cert.Marshal()
	seedOff := 1 + 2 + len(c)
	sizeOff := seedOff + 1 + 32
	withSize := func(n uint64) []byte {
		b := bytes.Clone(acct)
		binary.BigEndian.PutUint64(b[sizeOff:], n)
		return b
	}
	seed16 := append(bytes.Clone(acct[:seedOff]), 16)
	seed16 = append(seed16, make([]byte, 16)...)
	seed16 = append(seed16, acct[sizeOff:]...)
	otherSeed := bytes.Clone(acct)
	otherSeed[seedOff+1] ^= 1 // the seed of another account key
	badCert := bytes.Clone(acct)
	badCert[3] = 2 // certificate version
	for name, b := range map[string][]byte{
		"empty":              nil,
		"unknown type 0":     {0},
		"unknown type 5":     {5, 1},
		"account truncated":  acct[:len(acct)-1],
		"account trailing":   append(bytes.Clone(acct), 0),
		"account seed 16":    seed16,
		"account seed other": otherSeed,
		"account too big":    withSize(MaxSnapshot + 1),
		"account cert":       badCert,
		"chunk empty":        {2},
		"chunk too big":      append([]byte{2}, make([]byte, MaxChunk+1)...),
		"linked short":       {3, 0, 0, 1},
		"linked long":        {3, 0, 0, 0, 1, 0},
		"linked 0":           {3, 0, 0, 0, 0},
		"abort empty":        {4},
		"abort no text len":  {4, 1},
		"abort short text":   {4, 1, 3, 'a'},
		"abort trailing":     {4, 1, 1, 'a', 'b'},
		"abort control":      {4, 1, 1, 0x07},
		"abort bidi":         append([]byte{4, 1, 3}, "\u2066"...),
		"abort bad UTF-8":    {4, 1, 2, 0xc3, 0x28},
		"abort too long":     append([]byte{4, 1, MaxAbortText + 1}, bytes.Repeat([]byte{'a'}, MaxAbortText+1)...),
	} {
		if _, err := ParseRecord(b); !errorsIs(err, ErrMalformed) {
			t.Errorf("%s: %v, want malformed", name, err)
		}
	}
	if _, err := ParseRecord(withSize(MaxSnapshot)); err != nil {
		t.Errorf("snapshot of MaxSnapshot: %v", err)
	}
	// Marshal refuses what Parse refuses.
	other := aik.Seed()
	other[0] ^= 1
	for name, a := range map[string]*Account{
		"no certificate": {},
		"seed 16":        {Certificate: cert, AccountSeed: make([]byte, 16)},
		"seed other":     {Certificate: cert, AccountSeed: other},
		"too big":        {Certificate: cert, SnapshotSize: MaxSnapshot + 1},
	} {
		if _, err := MarshalRecord(a); !errorsIs(err, ErrMalformed) {
			t.Errorf("marshal %s: %v, want malformed", name, err)
		}
	}
}

func TestRecordsOwnTheirBytes(t *testing.T) {
	b := []byte{2, 1, 2, 3}
	r, err := ParseRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	clear(b)
	if !bytes.Equal(r.(*SnapshotChunk).Data, []byte{1, 2, 3}) {
		t.Fatal("the chunk aliases its input")
	}
}

func TestAccountZero(t *testing.T) {
	a := &Account{AccountSeed: bytes.Repeat([]byte{1}, 32)}
	a.Zero()
	if !allZero(a.AccountSeed) {
		t.Fatal("seed not zeroed")
	}
}

func TestSnapshotAssembler(t *testing.T) {
	for _, n := range []int{0, 1, MaxChunk, MaxChunk + 1, 3*MaxChunk - 1} {
		snap := bytes.Repeat([]byte{0x5a}, n)
		chunks, size, sum, err := SplitSnapshot(snap)
		if err != nil || size != uint64(n) || sum != sha256.Sum256(snap) || len(chunks) != (n+MaxChunk-1)/MaxChunk {
			t.Fatalf("%d: %v, %d chunks", n, err, len(chunks))
		}
		a := NewSnapshotAssembler(&Account{SnapshotSize: size, SnapshotHash: sum})
		for i, c := range chunks {
			if a.Done() {
				t.Fatalf("%d: done before chunk %d", n, i)
			}
			if err := a.Add(c); err != nil {
				t.Fatal(err)
			}
		}
		got, err := a.Snapshot()
		if err != nil || !bytes.Equal(got, snap) {
			t.Fatalf("%d: %v", n, err)
		}
	}
	// Too many bytes, a wrong hash, not done.
	a := NewSnapshotAssembler(&Account{SnapshotSize: 3, SnapshotHash: sha256.Sum256([]byte("abc"))})
	wantErr(t, a.Add(&SnapshotChunk{Data: []byte("abcd")}), ErrMalformed)
	_, err := a.Snapshot()
	wantErr(t, err, ErrWrongState)
	if err := a.Add(&SnapshotChunk{Data: []byte("abd")}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, a.Add(&SnapshotChunk{Data: []byte("x")}), ErrMalformed)
	_, err = a.Snapshot()
	wantErr(t, err, ErrSnapshotMismatch)
	_, _, _, err = SplitSnapshot(make([]byte, MaxSnapshot+1))
	wantErr(t, err, ErrMalformed)
}
