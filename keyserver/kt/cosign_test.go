package kt_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/keyserver/kt"
	"golang.org/x/mod/sumdb/note"
)

// testWitness is a witness key for unit tests; the tests of
// keyserver/witness run real litewitness instances instead.
type testWitness struct {
	kt.Witness
	signer note.Signer
}

func newTestWitness(t testing.TB, name string, at time.Time) testWitness {
	t.Helper()
	k := logKey(t, "kt/witness/"+name)
	s, err := kt.NewCosigner(name, k, at)
	if err != nil {
		t.Fatal(err)
	}
	return testWitness{Witness: kt.Witness{Name: name, Key: pub(k)}, signer: s}
}

// cosignLine returns w's cosignature line on the checkpoint in signed.
func (w testWitness) cosignLine(t testing.TB, signed []byte) []byte {
	t.Helper()
	text, _, _ := bytes.Cut(signed, []byte("\n\n"))
	out, err := note.Sign(&note.Note{Text: string(text) + "\n"}, w.signer)
	if err != nil {
		t.Fatal(err)
	}
	_, sigs, _ := bytes.Cut(out, []byte("\n\n"))
	return sigs
}

func TestWitnessVerifierKeyRoundTrip(t *testing.T) {
	w := newTestWitness(t, "witness.example/w1", testTime)
	vk, err := w.VerifierKey()
	if err != nil {
		t.Fatal(err)
	}
	got, err := kt.ParseWitness(vk)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != w.Name || !bytes.Equal(got.Key, w.Key) {
		t.Fatalf("ParseWitness(%q) = %+v", vk, got)
	}
	for _, bad := range []string{
		"", vk + " ", strings.Replace(vk, "+", "++", 1), "witness.example/w1+00000000+" + strings.SplitN(vk, "+", 3)[2],
		strings.Replace(vk, "+B", "+A", 1), // algorithm byte 0x01: a log key, not a cosigner's
		"wit ness+" + strings.SplitN(vk, "+", 2)[1],
	} {
		if _, err := kt.ParseWitness(bad); !errors.Is(err, kt.ErrMalformed) {
			t.Errorf("ParseWitness(%q) = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestVerifyCosigned(t *testing.T) {
	l, k := buildLog(t, "cosign", 5)
	l.Time = testTime
	v := newVerifier(t, testOrigin, k)
	signed, err := l.Checkpoint(5)
	if err != nil {
		t.Fatal(err)
	}
	w1 := newTestWitness(t, "witness.example/w1", testTime.Add(time.Second))
	w2 := newTestWitness(t, "witness.example/w2", testTime.Add(2*time.Second))
	w3 := newTestWitness(t, "witness.example/w3", testTime)
	stranger := newTestWitness(t, "witness.example/stranger", testTime)
	ws := []kt.Witness{w1.Witness, w2.Witness, w3.Witness}
	cat := func(parts ...[]byte) []byte { return bytes.Join(append([][]byte{signed}, parts...), nil) }
	l1, l2, l3 := w1.cosignLine(t, signed), w2.cosignLine(t, signed), w3.cosignLine(t, signed)

	cp, cosigs, err := kt.VerifyCosigned(cat(l1, l2), v, ws, 2)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != 5 || len(cosigs) != 2 || cosigs[0].Name != w1.Name || !cosigs[0].Time.Equal(testTime.Add(time.Second)) || cosigs[1].Name != w2.Name {
		t.Fatalf("VerifyCosigned = %+v, %+v", cp, cosigs)
	}

	// A forged line: w3's name and key id, a signature of other text.
	other, err := l.Checkpoint(4)
	if err != nil {
		t.Fatal(err)
	}
	forged := w3.cosignLine(t, other)
	// The stranger signs under w2's name: wrong key id, so not w2's.
	strangerAsW2 := bytes.Replace(stranger.cosignLine(t, signed), []byte("stranger"), []byte("w2"), 1)
	// A w1 line whose signature bytes were altered.
	tampered := bytes.Clone(l1)
	if i := len(tampered) - 6; tampered[i] == 'A' {
		tampered[i] = 'B'
	} else {
		tampered[i] = 'A'
	}

	for _, c := range []struct {
		name   string
		signed []byte
		ws     []kt.Witness
		quorum int
		want   error
		count  int
	}{
		{"one of two", cat(l1), ws, 2, kt.ErrNoQuorum, 1},
		{"duplicate line counts once", cat(l1, l1), ws, 2, kt.ErrNoQuorum, 1},
		{"two lines by one witness count once", cat(l1, w1Again(t, signed)), ws, 2, kt.ErrNoQuorum, 1},
		{"unknown witness ignored", cat(l1, stranger.cosignLine(t, signed)), ws, 2, kt.ErrNoQuorum, 1},
		{"forged cosignature not counted", cat(l1, forged), ws, 2, kt.ErrNoQuorum, 1},
		{"wrong key under a known name", cat(l1, strangerAsW2), ws, 2, kt.ErrNoQuorum, 1},
		{"tampered cosignature not counted", cat(tampered, l2), ws, 2, kt.ErrNoQuorum, 1},
		{"none", signed, ws, 1, kt.ErrNoQuorum, 0},
		{"quorum 0", cat(l1, l2, l3), ws, 0, kt.ErrWitnessPolicy, 0},
		{"quorum above witnesses", cat(l1, l2, l3), ws, 4, kt.ErrWitnessPolicy, 0},
		{"no witnesses", signed, nil, 1, kt.ErrWitnessPolicy, 0},
		{"one witness twice", cat(l1, l2), []kt.Witness{w1.Witness, w1.Witness}, 2, kt.ErrWitnessPolicy, 0},
		{"one key under two names", cat(l1, l2), []kt.Witness{w1.Witness, {Name: "witness.example/alias", Key: w1.Key}}, 2, kt.ErrWitnessPolicy, 0},
		{"the log's own key as a witness", cat(l1), []kt.Witness{w1.Witness, {Name: testOrigin, Key: pub(k)}}, 2, kt.ErrWitnessPolicy, 0},
		{"witness lines on a checkpoint the log did not sign", append(bytes.Replace(signed, []byte("\n5\n"), []byte("\n6\n"), 1), l1...), ws, 1, kt.ErrBadSignature, 0},
	} {
		cp, cosigs, err := kt.VerifyCosigned(c.signed, v, c.ws, c.quorum)
		if !errors.Is(err, c.want) || cp != nil || len(cosigs) != c.count {
			t.Errorf("%s: VerifyCosigned = %v, %d cosignatures, %v; want %v with %d", c.name, cp, len(cosigs), err, c.want, c.count)
		}
	}
	// With all three lines, any quorum up to 3 holds; the log's own
	// timestamped signature (same alg byte) never counts as a witness.
	if _, cosigs, err := kt.VerifyCosigned(cat(l3, l2, l1), v, ws, 3); err != nil || len(cosigs) != 3 {
		t.Fatalf("three of three: %v, %d", err, len(cosigs))
	}
}

// w1Again is a second, different valid w1 cosignature (another time).
func w1Again(t testing.TB, signed []byte) []byte {
	return newTestWitness(t, "witness.example/w1", testTime.Add(time.Hour)).cosignLine(t, signed)
}

func TestParseCosignatures(t *testing.T) {
	l, _ := buildLog(t, "parse", 2)
	signed, err := l.Checkpoint(2)
	if err != nil {
		t.Fatal(err)
	}
	w1 := newTestWitness(t, "witness.example/w1", testTime)
	w2 := newTestWitness(t, "witness.example/w2", testTime)
	body := append(w1.cosignLine(t, signed), w2.cosignLine(t, signed)...)
	lines, err := kt.ParseCosignatures(body)
	if err != nil {
		t.Fatal(err)
	}
	var again []byte
	for _, ln := range lines {
		again = append(again, ln.Marshal()...)
	}
	if !bytes.Equal(again, body) || len(lines) != 2 {
		t.Fatalf("re-encoded %q, want %q", again, body)
	}
	text, _, _ := bytes.Cut(signed, []byte("\n\n"))
	text = append(text, '\n')
	if c, err := kt.VerifyCosignature(w1.Witness, text, lines[0]); err != nil || c.Name != w1.Name || !c.Time.Equal(testTime) {
		t.Fatalf("VerifyCosignature = %+v, %v", c, err)
	}
	if _, err := kt.VerifyCosignature(w1.Witness, text, lines[1]); !errors.Is(err, kt.ErrBadSignature) {
		t.Fatalf("w2's line as w1's: %v, want ErrBadSignature", err)
	}
	for _, bad := range []string{
		"", "\n", string(body[:len(body)-1]), "— witness.example/w1\n", "- witness.example/w1 AAAAAAA=\n",
		"— witness.example/w1 AAAA\n", "— witness.example/w1 AAAAAA==\n", "—  AAAAAAAA\n",
		"— a+b AAAAAAAA\n", "— w AAAAAAAA \n", "— w AAAAAAAA\n\n", "— w AAAAAAA\n",
		strings.Repeat("— w AAAAAAAA\n", kt.MaxCosignatureLines+1),
	} {
		if got, err := kt.ParseCosignatures([]byte(bad)); !errors.Is(err, kt.ErrMalformed) || got != nil {
			t.Errorf("ParseCosignatures(%q) = %v, %v; want ErrMalformed", bad, got, err)
		}
	}
}

func TestAppendCosignatures(t *testing.T) {
	l, k := buildLog(t, "append", 3)
	v := newVerifier(t, testOrigin, k)
	signed, err := l.Checkpoint(3)
	if err != nil {
		t.Fatal(err)
	}
	w1 := newTestWitness(t, "witness.example/w1", testTime)
	lines, err := kt.ParseCosignatures(w1.cosignLine(t, signed))
	if err != nil {
		t.Fatal(err)
	}
	out, err := kt.AppendCosignatures(signed, append(lines, lines...))
	if err != nil {
		t.Fatal(err)
	}
	if want := append(bytes.Clone(signed), lines[0].Marshal()...); !bytes.Equal(out, want) {
		t.Fatalf("AppendCosignatures = %q, want %q", out, want)
	}
	if _, _, err := kt.VerifyCosigned(out, v, []kt.Witness{w1.Witness}, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := kt.AppendCosignatures([]byte("no note"), lines); !errors.Is(err, kt.ErrMalformed) {
		t.Fatalf("AppendCosignatures on a non-note: %v", err)
	}
}
