package group

import (
	"crypto/ed25519"
	"io"
	"testing"

	"github.com/sealpost/sealpost/internal/testrand"
)

// world is a set of accounts with deterministic keys and the key lookup a
// client would pass.
type world struct {
	t    testing.TB
	keys map[string]ed25519.PrivateKey
	gid  ID
}

func newWorld(t testing.TB, handles ...string) *world {
	w := &world{t: t, keys: map[string]ed25519.PrivateKey{}}
	r := testrand.New("group/" + t.Name())
	for _, h := range handles {
		w.add(r, h)
	}
	io.ReadFull(r, w.gid[:])
	return w
}

func (w *world) add(r io.Reader, h string) {
	seed := make([]byte, ed25519.SeedSize)
	io.ReadFull(r, seed)
	w.keys[h] = ed25519.NewKeyFromSeed(seed)
}

func (w *world) lookup(h string) ([32]byte, bool) {
	var k [32]byte
	priv, ok := w.keys[h]
	if !ok {
		return k, false
	}
	copy(k[:], priv.Public().(ed25519.PublicKey))
	return k, true
}

func (w *world) sign(c *Change) *Change {
	w.t.Helper()
	priv, ok := w.keys[c.Author]
	if !ok {
		w.t.Fatalf("no key for %s", c.Author)
	}
	if err := c.SetSignature(ed25519.Sign(priv, c.SignedMessage())); err != nil {
		w.t.Fatal(err)
	}
	return c
}

func (w *world) create(author, name string, members ...string) (*Change, *State) {
	w.t.Helper()
	c, err := NewCreate(w.gid, author, name, members)
	if err != nil {
		w.t.Fatal(err)
	}
	w.sign(c)
	s, err := Create(c, w.lookup)
	if err != nil {
		w.t.Fatal(err)
	}
	return c, s
}

// change builds and signs a change of s by author.
func (w *world) change(s *State, author string, k Kind, name string, members ...string) *Change {
	w.t.Helper()
	c, err := NewChange(s, author, Intent{Kind: k, Name: name, Members: members})
	if err != nil {
		w.t.Fatalf("NewChange %s by %s: %v", k, author, err)
	}
	return w.sign(c)
}

// forge builds and signs a change of s by author without the rule checks
// of NewChange, for refusals.
func (w *world) forge(s *State, author string, k Kind, name string, members ...string) *Change {
	w.t.Helper()
	c := &Change{Group: s.ID, Epoch: s.Epoch, Prev: s.Hash(), Author: author, Kind: k, Name: name, Members: sortedCopy(members)}
	if _, ok := w.keys[author]; !ok {
		return c
	}
	return w.sign(c)
}

func (w *world) apply(s *State, c *Change) *State {
	w.t.Helper()
	n, err := Apply(s, c, w.lookup)
	if err != nil {
		w.t.Fatalf("Apply %s by %s: %v", c.Kind, c.Author, err)
	}
	return n
}
