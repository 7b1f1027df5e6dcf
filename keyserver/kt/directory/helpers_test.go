package directory_test

import (
	"crypto/ed25519"
	"errors"
	"io"
	"reflect"
	"sync"
	"testing"

	"github.com/sealpost/sealpost/crypto/vrf"
	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/directory/dirtest"
)

const testOrigin = "example.org/sealpost-kt/v2"

func logKey(t testing.TB, label string) ed25519.PrivateKey {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(testrand.New(label), seed); err != nil {
		t.Fatal(err)
	}
	return ed25519.NewKeyFromSeed(seed)
}

func vrfKey(t testing.TB, label string) *vrf.PrivateKey {
	t.Helper()
	seed := make([]byte, vrf.SeedSize)
	if _, err := io.ReadFull(testrand.New(label), seed); err != nil {
		t.Fatal(err)
	}
	k, err := vrf.NewPrivateKey(seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newDirectory(t testing.TB, label string) *dirtest.Directory {
	t.Helper()
	d, err := dirtest.New(testOrigin, logKey(t, "directory/log"), vrfKey(t, "directory/vrf"), testrand.New("directory/"+label))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func newAccount(t testing.TB, handle string) *dirtest.Account {
	t.Helper()
	a, err := dirtest.NewAccount(handle, testrand.New("directory/account/"+handle))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func sequence(t testing.TB, d *dirtest.Directory, filler int, entries ...[]byte) uint64 {
	t.Helper()
	return must[uint64](t)(d.Sequence(entries, filler))
}

// world is the honest directory of the tests: five epochs.
//
//	epoch 1: alice registers (seq 1, key-set version 1)
//	epoch 2: bob registers (seq 1); alice adds a device (seq 2, version 2)
//	epoch 3: other accounts only
//	epoch 4: alice adds a device and revokes one (seq 3, version 4: two
//	         changes in one epoch); bob adds a device (seq 2, version 2)
//	epoch 5: other accounts only
//
// carol is never registered.
type world struct {
	d          *dirtest.Directory
	alice, bob *dirtest.Account
	aliceV     [][]byte // alice's entries by seq − 1
	bobV       [][]byte
}

var (
	worldOnce sync.Once
	theWorld  *world
	worldErr  error
)

func buildWorld(t testing.TB, label string) *world {
	t.Helper()
	w := &world{d: newDirectory(t, label), alice: newAccount(t, "alice"), bob: newAccount(t, "bob")}
	add := func(a *dirtest.Account) []byte { return must[[]byte](t)(a.AddDevice()) }
	a1 := add(w.alice)
	sequence(t, w.d, 20, a1)
	b1, a2 := add(w.bob), add(w.alice)
	sequence(t, w.d, 30, b1, a2)
	sequence(t, w.d, 40)
	add(w.alice)
	a3 := must[[]byte](t)(w.alice.Revoke(0))
	b2 := add(w.bob)
	sequence(t, w.d, 50, a3, b2)
	sequence(t, w.d, 10)
	w.aliceV = [][]byte{a1, a2, a3}
	w.bobV = [][]byte{b1, b2}
	return w
}

func honest(t testing.TB) *world {
	t.Helper()
	worldOnce.Do(func() {
		defer func() {
			if theWorld == nil && worldErr == nil {
				worldErr = errors.New("building the test world failed")
			}
		}()
		theWorld = buildWorld(t, "world")
	})
	if worldErr != nil {
		t.Fatal(worldErr)
	}
	return theWorld
}

func (w *world) open(t testing.TB, size uint64) *kt.Checkpoint {
	t.Helper()
	return must[*kt.Checkpoint](t)(w.d.Open(size))
}

func (w *world) vrfPub() *vrf.PublicKey { return w.d.VRF.Public() }

// refused checks that err is kind.
func refused(t *testing.T, err error, kind error) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want %v", kind)
	}
	t.Log(err)
	if !errors.Is(err, kind) {
		t.Fatalf("error %v; want %v", err, kind)
	}
}

// unchanged checks that v is deeply equal to the copy taken before.
func unchanged(t *testing.T, before, after any) {
	t.Helper()
	if !reflect.DeepEqual(before, after) {
		t.Fatal("input changed by a refused call")
	}
}
