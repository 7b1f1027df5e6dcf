package witness_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/internal/witnesstest"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/kttest"
	"github.com/sealpost/sealpost/keyserver/witness"
	"golang.org/x/mod/sumdb/tlog"
)

const origin = "keyserver.test/log"

func logKey(t testing.TB, label string) ed25519.PrivateKey {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	if _, err := testrand.New(label).Read(seed); err != nil {
		t.Fatal(err)
	}
	return ed25519.NewKeyFromSeed(seed)
}

// newLog returns a log named origin holding leaves prefix-0 … prefix-(n-1),
// its checkpoints timestamped by the log key like the key server's.
func newLog(t testing.TB, key ed25519.PrivateKey, n int, leaf func(i int) string) *kttest.Log {
	t.Helper()
	l, err := kttest.New(origin, key)
	if err != nil {
		t.Fatal(err)
	}
	l.Time = time.Now()
	for i := 0; i < n; i++ {
		if _, err := l.Append([]byte(leaf(i))); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

func honestLeaf(i int) string { return fmt.Sprintf("honest leaf %d", i) }

func prover(l *kttest.Log) witness.Prover {
	return func(_ context.Context, older, newer int64) (tlog.TreeProof, error) {
		return l.ProveConsistency(older, newer)
	}
}

func checkpoint(t testing.TB, l *kttest.Log, size int64) []byte {
	t.Helper()
	signed, err := l.Checkpoint(size)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

type setup struct {
	key       ed25519.PrivateKey
	verifier  *kt.Verifier
	ws        []*witnesstest.Witness
	clients   []*witness.Client
	witnesses []kt.Witness
}

// start runs two real litewitness instances that know the log.
func start(t *testing.T) *setup {
	t.Helper()
	s := &setup{key: logKey(t, "witness/log")}
	vkey, err := kt.VerifierKey(origin, s.key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if s.verifier, err = kt.NewVerifier(vkey); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"witness.test/w1", "witness.test/w2"} {
		w := witnesstest.Start(t, name, map[string]string{origin: vkey})
		t.Logf("%s started in %v", name, w.Started)
		kw, err := kt.ParseWitness(w.VKey)
		if err != nil {
			t.Fatal(err)
		}
		s.ws = append(s.ws, w)
		s.witnesses = append(s.witnesses, kw)
		s.clients = append(s.clients, &witness.Client{URL: w.URL, Witness: kw, Timeout: 10 * time.Second})
	}
	return s
}

// TestCosignedByTwoWitnesses: two independent litewitness instances
// cosign the log's checkpoints as it grows; a client with quorum 2
// accepts, and with one witness down a new checkpoint gets one
// cosignature only and quorum 2 refuses it.
func TestCosignedByTwoWitnesses(t *testing.T) {
	s := start(t)
	ctx := context.Background()
	l := newLog(t, s.key, 7, honestLeaf)

	sizes := []int64{0, 0}
	var served []byte
	for _, size := range []int64{3, 5, 5} {
		signed := checkpoint(t, l, size)
		var results []witness.Result
		served, results = witness.SubmitAll(ctx, s.clients, signed, size, sizes, prover(l))
		for i, r := range results {
			if r.Err != nil || len(r.Lines) != 1 || r.Size != size {
				t.Fatalf("size %d, witness %d: %+v", size, i, r)
			}
			sizes[i] = r.Size
		}
		cp, cosigs, err := kt.VerifyCosigned(served, s.verifier, s.witnesses, 2)
		if err != nil {
			t.Fatalf("size %d: %v\n%s", size, err, served)
		}
		if cp.Size != size || len(cosigs) != 2 || time.Since(cosigs[0].Time) > time.Minute {
			t.Fatalf("size %d: %+v, %+v", size, cp, cosigs)
		}
	}

	// A witness that lost track (old size 0 sent) answers 409 with its
	// size; Submit moves on from there.
	signed6 := checkpoint(t, l, 6)
	lines, size, err := s.clients[0].Submit(ctx, signed6, 6, 0, prover(l))
	if err != nil || size != 6 || len(lines) != 1 {
		t.Fatalf("Submit from a stale old size: %v, size %d", err, size)
	}
	sizes[0] = 6

	// w2 goes down: the checkpoint of size 7 gets w1's cosignature only.
	s.ws[1].Stop()
	signed7 := checkpoint(t, l, 7)
	served, results := witness.SubmitAll(ctx, s.clients, signed7, 7, sizes, prover(l))
	if results[0].Err != nil || !errors.Is(results[1].Err, witness.ErrUnavailable) {
		t.Fatalf("with w2 down: %v, %v", results[0].Err, results[1].Err)
	}
	if cp, cosigs, err := kt.VerifyCosigned(served, s.verifier, s.witnesses, 2); !errors.Is(err, kt.ErrNoQuorum) || cp != nil || len(cosigs) != 1 {
		t.Fatalf("quorum 2 with one witness down: %v, %v, %d cosignatures; want ErrNoQuorum", cp, err, len(cosigs))
	}
	if _, _, err := kt.VerifyCosigned(served, s.verifier, s.witnesses, 1); err != nil {
		t.Fatalf("quorum 1 with one witness down: %v", err)
	}
}

// TestForkGetsNoCosignature: a key server that forks its log (same origin
// and key, another history) gets no cosignature from a witness that
// cosigned the honest history, whatever old size it claims, and a client
// refuses the fork for lack of a quorum. The witnesses' state does not
// move: the honest log still gets cosigned afterwards.
func TestForkGetsNoCosignature(t *testing.T) {
	s := start(t)
	ctx := context.Background()
	honest := newLog(t, s.key, 6, honestLeaf)
	honest5 := checkpoint(t, honest, 5)
	served, results := witness.SubmitAll(ctx, s.clients, honest5, 5, nil, prover(honest))
	for i, r := range results {
		if r.Err != nil {
			t.Fatalf("honest size 5, witness %d: %v", i, r.Err)
		}
	}
	if _, _, err := kt.VerifyCosigned(served, s.verifier, s.witnesses, 2); err != nil {
		t.Fatal(err)
	}
	honestLines := append(results[0].Lines, results[1].Lines...)

	// The fork shares the first 3 leaves and then differs.
	fork := newLog(t, s.key, 6, func(i int) string {
		if i < 3 {
			return honestLeaf(i)
		}
		return fmt.Sprintf("forked leaf %d", i)
	})
	fork5, fork6 := checkpoint(t, fork, 5), checkpoint(t, fork, 6)
	proof56, err := fork.ProveConsistency(5, 6)
	if err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name   string
		old    int64
		proof  tlog.TreeProof
		signed []byte
		kind   error
		status int
		known  int64
	}{
		// Claiming the witness has seen nothing: it names its size.
		{"fork 6 from old 0", 0, nil, fork6, witness.ErrConflict, http.StatusConflict, 5},
		// From the witness's size, with the fork's own proof: it does not
		// extend the tree the witness cosigned.
		{"fork 6 from old 5", 5, proof56, fork6, witness.ErrBadProof, http.StatusUnprocessableEntity, -1},
		// The fork's tree of the same size, another root. C2SP says 409;
		// litewitness v0.6.1 answers 422. Neither cosigns.
		{"fork 5 from old 5", 5, nil, fork5, nil, 0, -1},
	} {
		for i, cl := range s.clients {
			lines, err := cl.AddCheckpoint(ctx, c.old, c.proof, c.signed)
			var se *witness.StatusError
			if lines != nil || !errors.As(err, &se) {
				t.Fatalf("%s, witness %d: %v lines, %v; want a refusal", c.name, i, lines, err)
			}
			t.Logf("%s, witness %d answered: %v", c.name, i, err)
			if c.kind == nil {
				if !errors.Is(err, witness.ErrConflict) && !errors.Is(err, witness.ErrBadProof) {
					t.Fatalf("%s: %v, want ErrConflict or ErrBadProof", c.name, err)
				}
				continue
			}
			if !errors.Is(err, c.kind) || se.Status != c.status || se.Known != c.known {
				t.Fatalf("%s, witness %d: %+v; want %v, HTTP %d, known %d", c.name, i, se, c.kind, c.status, c.known)
			}
		}
	}

	// Submit, as the key server would run it, ends in ErrBadProof after
	// following the 409.
	forkServed, results := witness.SubmitAll(ctx, s.clients, fork6, 6, nil, prover(fork))
	for i, r := range results {
		if !errors.Is(r.Err, witness.ErrBadProof) || r.Lines != nil || r.Size != 5 {
			t.Fatalf("fork, witness %d: %+v; want ErrBadProof at size 5", i, r)
		}
	}
	// The client refuses the fork: no cosignature at all, and the honest
	// cosignatures of size 5 do not transfer to the fork's size 5.
	if cp, cosigs, err := kt.VerifyCosigned(forkServed, s.verifier, s.witnesses, 2); !errors.Is(err, kt.ErrNoQuorum) || cp != nil || len(cosigs) != 0 {
		t.Fatalf("client on the fork: %v, %d cosignatures, %v; want ErrNoQuorum", cp, len(cosigs), err)
	}
	grafted, err := kt.AppendCosignatures(fork5, honestLines)
	if err != nil {
		t.Fatal(err)
	}
	if _, cosigs, err := kt.VerifyCosigned(grafted, s.verifier, s.witnesses, 1); !errors.Is(err, kt.ErrNoQuorum) || len(cosigs) != 0 {
		t.Fatalf("honest cosignatures grafted on the fork: %v, %d; want ErrNoQuorum", err, len(cosigs))
	}

	// The witnesses did not move: they still hold the honest size 5 and
	// cosign the honest size 6.
	honest6 := checkpoint(t, honest, 6)
	served, results = witness.SubmitAll(ctx, s.clients, honest6, 6, []int64{5, 5}, prover(honest))
	for i, r := range results {
		if r.Err != nil || r.Size != 6 {
			t.Fatalf("honest size 6 after the fork, witness %d: %+v", i, r)
		}
	}
	if cp, _, err := kt.VerifyCosigned(served, s.verifier, s.witnesses, 2); err != nil || cp.Size != 6 {
		t.Fatalf("honest size 6: %v", err)
	}
}

// TestWitnessRefusals: a log the witness does not know, a checkpoint
// signed by another key, an old size above the checkpoint's.
func TestWitnessRefusals(t *testing.T) {
	s := start(t)
	ctx := context.Background()
	cl := s.clients[0]

	other, err := kttest.New("keyserver.test/other", logKey(t, "witness/other"))
	if err != nil {
		t.Fatal(err)
	}
	other.Append([]byte("x"))
	otherSigned, err := other.Checkpoint(1)
	if err != nil {
		t.Fatal(err)
	}
	impostor := newLog(t, logKey(t, "witness/impostor"), 2, honestLeaf)
	l := newLog(t, s.key, 2, honestLeaf)
	for _, c := range []struct {
		name   string
		old    int64
		signed []byte
		kind   error
	}{
		{"unknown log", 0, otherSigned, witness.ErrUnknownLog},
		{"another key", 0, checkpoint(t, impostor, 2), witness.ErrForbidden},
		{"old size above the checkpoint's", 3, checkpoint(t, l, 2), witness.ErrBadRequest},
	} {
		lines, err := cl.AddCheckpoint(ctx, c.old, nil, c.signed)
		if !errors.Is(err, c.kind) || lines != nil {
			t.Errorf("%s: %v, %v; want %v", c.name, lines, err, c.kind)
		}
		t.Logf("%s: %v", c.name, err)
	}
	// Nothing was cosigned: the log's first checkpoint goes in from old 0.
	if _, size, err := cl.Submit(ctx, checkpoint(t, l, 2), 2, 0, prover(l)); err != nil || size != 2 {
		t.Fatalf("first checkpoint after the refusals: %v", err)
	}

	// A witness key other than the one that answers: the answer is
	// refused as holding no valid cosignature.
	wrong := *cl
	wrong.Witness = s.witnesses[1]
	if _, err := wrong.AddCheckpoint(ctx, 2, nil, checkpoint(t, l, 2)); !errors.Is(err, witness.ErrBadResponse) {
		t.Fatalf("answer checked against another witness's key: %v, want ErrBadResponse", err)
	}
}
