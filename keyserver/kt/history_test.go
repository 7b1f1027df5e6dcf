package kt_test

import (
	"errors"
	"testing"

	"github.com/sealpost/sealpost/keyserver/kt"
)

func parsed(t *testing.T, leaf []byte) *kt.Entry {
	t.Helper()
	e, err := kt.ParseEntry(leaf)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestCheckSuccessor(t *testing.T) {
	a := newAccount(t, "alice")
	e1 := parsed(t, a.addDevice(t, 1))
	e2 := parsed(t, a.addDevice(t, 5))
	e3 := parsed(t, a.revoke(t, 0))
	e4 := parsed(t, a.addDevice(t, 6))
	for i, pair := range [][2]*kt.Entry{{nil, e1}, {e1, e2}, {e2, e3}, {e3, e4}} {
		if err := kt.CheckSuccessor(pair[0], pair[1]); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}

	mallory := newAccount(t, "mallory")
	m1 := parsed(t, mallory.addDevice(t, 1))

	// Entries no honest history produces. The same label gives the same
	// account key and devices as a.
	twoAtOnce := newAccount(t, "alice")
	twoAtOnce.addDevice(t, 1)
	twoAtOnce.addDevice(t, 5)
	twoAtOnce.revoke(t, 0)
	twoAtOnce.revoke(t, 1)
	twoRevoked := *parsed(t, twoAtOnce.leaf(t))
	twoRevoked.Version = 3

	otherKey := *e2
	otherKey.AccountKey = mallory.key.Public()
	skipped := *e3
	skipped.Version = 4
	dropped := *e3
	dropped.Devices = e3.Devices[1:]
	unrevoked := *e4
	unrevoked.Version = 5
	unrevoked.Devices = append([]kt.Device{e1.Devices[0]}, e4.Devices[1:]...)
	addedRevoked := *e3
	addedRevoked.Version = 4
	addedRevoked.Devices = append(append([]kt.Device(nil), e3.Devices...), e3.Devices[0])
	registeredTwo := *e2
	registeredTwo.Version = 1

	cases := []struct {
		name       string
		prev, next *kt.Entry
	}{
		{"rollback", e3, e2},
		{"same entry again", e2, e2},
		{"version skipped", e2, &skipped},
		{"account key changed", e1, &otherKey},
		{"another handle", e1, m1},
		{"two revoked at once", e2, &twoRevoked},
		{"device dropped", e2, &dropped},
		{"revocation undone", e4, &unrevoked},
		{"added already revoked", e3, &addedRevoked},
		{"registration with two devices", nil, &registeredTwo},
		{"registration at version 2", nil, e2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := kt.CheckSuccessor(c.prev, c.next); !errors.Is(err, kt.ErrSecurity) {
				t.Fatalf("CheckSuccessor = %v; want ErrSecurity", err)
			}
		})
	}
}
