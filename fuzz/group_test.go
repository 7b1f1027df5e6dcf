package fuzz

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/sealpost/sealpost/client/group"
	"github.com/sealpost/sealpost/internal/vectors"
)

var groupErrs = []error{
	group.ErrMalformed, group.ErrWrongGroup, group.ErrStaleEpoch, group.ErrFutureEpoch, group.ErrWrongPrevious,
	group.ErrUnknownAuthor, group.ErrBadSignature, group.ErrNotMember, group.ErrNotAdmin, group.ErrAlreadyMember,
	group.ErrAlreadyAdmin, group.ErrLastAdmin, group.ErrTooManyMembers, group.ErrTooManyChanges,
}

// oneGroupErr reports whether err wraps exactly one sentinel of
// spec/errors.md §3.19 (two for a held change refused for the bound:
// too_many_changes and the reason it was to be held).
func oneGroupErr(err error) bool {
	n := 0
	for _, s := range groupErrs {
		if errors.Is(err, s) {
			n++
		}
	}
	return n == 1 || (n == 2 && errors.Is(err, group.ErrTooManyChanges))
}

func loadGroups(f *testing.F) *vectors.File[vectors.GroupCase] {
	file, err := vectors.Load[vectors.GroupCase]("groups.json")
	if err != nil {
		f.Fatal(err)
	}
	return file
}

// FuzzGroupState parses arbitrary bytes as a group state (client/group,
// spec/groups.md §3.3). Seeds: every state of spec/vectors/groups.json.
//
// Checks: no panic; the input is not modified; a refusal returns no state
// and wraps ErrMalformed only; an accepted input re-encodes to itself
// (marshal(parse(x)) == x) and its hash is SHA-256 of the label and x as
// §3.2 says (two states with one encoding have one hash).
func FuzzGroupState(f *testing.F) {
	for _, c := range loadGroups(f).Cases {
		for _, b := range [][]byte{c.Encoding, c.State, c.NewState} {
			if b != nil {
				f.Add(bytes.Clone(b))
			}
		}
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		s, err := group.ParseState(data)
		if !bytes.Equal(in, data) {
			t.Fatal("input modified")
		}
		if err != nil {
			if s != nil || !errors.Is(err, group.ErrMalformed) || !oneGroupErr(err) {
				t.Fatalf("refusal: %v", err)
			}
			return
		}
		if !bytes.Equal(s.Marshal(), data) {
			t.Fatal("marshal(parse(x)) != x")
		}
		s2, err := group.ParseState(s.Marshal())
		if err != nil || s2.Hash() != s.Hash() {
			t.Fatalf("re-parse: %v", err)
		}
	})
}

// FuzzGroupChange parses arbitrary bytes as a state change and applies it
// to a fixed state: the state at epoch 2 of spec/vectors/groups.json (the
// state its refusal cases use), with its key directory. A change that
// parses is applied twice: as it is (its signature rarely verifies), and
// re-signed by its author's key when the directory has it, so that the
// rules of spec/groups.md §5.2 steps 8–9 are reached. Each is applied with
// Apply and through a Tracker at that state. Seeds: every change of
// groups.json.
//
// Checks: no panic; the input is not modified; a refusal returns no state,
// wraps exactly one sentinel of spec/errors.md §3.19 and leaves the state
// (and the Tracker's current state) unchanged; a parsed change re-encodes
// to the input; an applied change gives a state that parses and re-encodes,
// at epoch + 1 with the old state's hash as its previous hash, and the
// Tracker's current state is that state.
func FuzzGroupChange(f *testing.F) {
	file := loadGroups(f)
	var base []byte
	var accounts []vectors.GroupAccount
	for _, c := range file.Cases {
		if c.ID == "concurrent" {
			base, accounts = c.State, c.Accounts
		}
		for _, b := range [][]byte{c.Change, c.Other} {
			if b != nil {
				f.Add(bytes.Clone(b))
			}
		}
	}
	if base == nil {
		f.Fatal("groups.json has no concurrent case")
	}
	priv := map[string]ed25519.PrivateKey{}
	for _, a := range accounts {
		priv[a.Handle] = ed25519.NewKeyFromSeed(a.Seed)
	}
	lookup := func(h string) (k [32]byte, ok bool) {
		p, ok := priv[h]
		if ok {
			copy(k[:], p.Public().(ed25519.PublicKey))
		}
		return k, ok
	}
	state, err := group.ParseState(base)
	if err != nil {
		f.Fatal(err)
	}
	stateHash := state.Hash()

	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		c, err := group.ParseChange(data)
		if !bytes.Equal(in, data) {
			t.Fatal("input modified")
		}
		if err != nil {
			if c != nil || !errors.Is(err, group.ErrMalformed) || !oneGroupErr(err) {
				t.Fatalf("refusal: %v", err)
			}
			return
		}
		if !bytes.Equal(c.Marshal(), data) {
			t.Fatal("marshal(parse(x)) != x")
		}
		try := func(c *group.Change) {
			n, err := group.Apply(state, c, lookup)
			if !bytes.Equal(state.Marshal(), base) {
				t.Fatal("Apply changed the state")
			}
			if err != nil {
				if n != nil || !oneGroupErr(err) {
					t.Fatalf("Apply refusal: %v", err)
				}
			} else {
				re, perr := group.ParseState(n.Marshal())
				if perr != nil || !bytes.Equal(re.Marshal(), n.Marshal()) || n.Epoch != state.Epoch+1 || n.Prev != stateHash {
					t.Fatalf("applied state: %v", perr)
				}
			}
			tr, terr := group.NewTracker(state)
			if terr != nil {
				t.Fatal(terr)
			}
			r, aerr := tr.Add(c, lookup)
			if aerr != nil {
				if !oneGroupErr(aerr) || r.Changed || tr.Hash() != stateHash {
					t.Fatalf("Tracker refusal: %v", aerr)
				}
			} else if err == nil && tr.Hash() != n.Hash() {
				t.Fatal("Tracker and Apply disagree")
			}
		}
		try(c)
		if p, ok := priv[c.Author]; ok {
			c.SetSignature(ed25519.Sign(p, c.SignedMessage()))
			try(c)
		}
	})
}
