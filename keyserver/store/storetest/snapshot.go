package storetest

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/sealpost/sealpost/keyserver/store"
)

// snapshot is what a refused call must leave as it was: the given
// accounts, their devices' prekey counts, and the whole log.
type snapshot struct {
	accounts map[string]*store.Account // nil: not found
	counts   map[string]string
	leaves   [][]byte
}

// snapshot reads the state of the accounts named by handles and the log.
func (f *fixture) snapshot(handles ...string) snapshot {
	f.t.Helper()
	s := snapshot{accounts: map[string]*store.Account{}, counts: map[string]string{}}
	for _, h := range handles {
		a, err := f.s.Account(f.ctx, h)
		if errors.Is(err, store.ErrNotFound) {
			s.accounts[h] = nil
			continue
		}
		must(f.t, "Account "+h, err)
		s.accounts[h] = a
		for _, d := range a.Devices {
			c, err := f.s.CountPrekeys(f.ctx, h, d.ID)
			s.counts[fmt.Sprintf("%s/%d", h, d.ID)] = fmt.Sprintf("%+v %v", c, err)
		}
	}
	s.leaves = f.leaves()
	return s
}

// leaves reads the whole log.
func (f *fixture) leaves() [][]byte {
	f.t.Helper()
	n, err := f.s.LogSize(f.ctx)
	must(f.t, "LogSize", err)
	l, err := f.s.Leaves(f.ctx, 0, n)
	must(f.t, "Leaves", err)
	if int64(len(l)) != n {
		f.t.Fatalf("Leaves(0, %d) returned %d leaves", n, len(l))
	}
	return l
}

// unchanged fails unless the state read now equals before.
func (f *fixture) unchanged(what string, before snapshot) {
	f.t.Helper()
	var handles []string
	for h := range before.accounts {
		handles = append(handles, h)
	}
	now := f.snapshot(handles...)
	for h, b := range before.accounts {
		if err := sameAccount(now.accounts[h], b); err != nil {
			f.t.Fatalf("after %s: account %s changed: %v", what, h, err)
		}
	}
	for k, b := range before.counts {
		if now.counts[k] != b {
			f.t.Fatalf("after %s: prekey counts of %s changed from %s to %s", what, k, b, now.counts[k])
		}
	}
	if len(now.leaves) != len(before.leaves) {
		f.t.Fatalf("after %s: log size changed from %d to %d", what, len(before.leaves), len(now.leaves))
	}
	for i := range now.leaves {
		if !bytes.Equal(now.leaves[i], before.leaves[i]) {
			f.t.Fatalf("after %s: leaf %d changed", what, i)
		}
	}
}

func sameAccount(got, want *store.Account) error {
	switch {
	case got == nil && want == nil:
		return nil
	case got == nil || want == nil:
		return fmt.Errorf("exists = %v, was %v", got != nil, want != nil)
	}
	if got.Handle != want.Handle || got.AccountKey != want.AccountKey || got.Version != want.Version ||
		got.LogIndex != want.LogIndex || !got.Created.Equal(want.Created) {
		return fmt.Errorf("got %+v, was %+v", *got, *want)
	}
	return sameDevices(got.Devices, want.Devices)
}
