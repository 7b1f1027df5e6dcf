package client

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/crypto/ratchet"
)

// recordV1 encodes states as a version 1 session record (before archive
// times): 0x01 || count || count × (len || state).
func recordV1(states []*ratchet.State) []byte {
	b := []byte{sessionRecordVersion1, byte(len(states))}
	for _, s := range states {
		m := s.Marshal()
		b = binary.BigEndian.AppendUint32(b, uint32(len(m)))
		b = append(b, m...)
	}
	return b
}

// TestSessionRecordExpiry: archived states are stamped when first seen
// archived and dropped once archived longer than maxArchivedAge, the
// current one never; skipped keys of every state go after
// ratchet.MaxSkippedKeyAge; a message for what went is refused and
// changes nothing (spec/client.md §4.1).
func TestSessionRecordExpiry(t *testing.T) {
	curPeer, cur := newTestStates(t)
	oldPeer, old := newTestStates(t)
	r := &sessionRecord{states: []*ratchet.State{old}}
	r.push(cur) // old is archived now
	// A skipped key in the current state: the peer's first message is
	// lost, the second arrives.
	m0, _ := curPeer.Encrypt(rand.Reader, []byte("lost for a while"))
	m1, _ := curPeer.Encrypt(rand.Reader, []byte("second"))
	if pt, err := r.decrypt(m1); err != nil || string(pt) != "second" {
		t.Fatal(pt, err)
	}
	// A message for the archived state, kept back.
	late, _ := oldPeer.Encrypt(rand.Reader, []byte("late"))

	t0 := time.Now()
	r.expire(t0)
	if len(r.states) != 2 || r.archived[0] != 0 || r.archived[1] == 0 {
		t.Fatalf("after the first expire: %d states, archived %v", len(r.states), r.archived)
	}
	got, err := parseSessionRecord(r.marshal())
	if err != nil || len(got.archived) != 2 || got.archived[1] != r.archived[1] {
		t.Fatalf("archive time does not round-trip: %v %v", got, err)
	}
	got.destroy()
	if r.expire(t0.Add(maxArchivedAge - time.Hour)) {
		t.Fatal("expired before the bound")
	}

	before := r.marshal()
	if !r.expire(t0.Add(maxArchivedAge + time.Hour)) {
		t.Fatal("nothing expired past the bound")
	}
	if len(r.states) != 1 || r.states[0] != cur {
		t.Fatalf("after the bound: %d states; want only the current one", len(r.states))
	}
	if bytes.Equal(before, r.marshal()) {
		t.Fatal("expiry did not change the record")
	}
	// The late message and the lost one are refused, changing nothing.
	for name, m := range map[string][]byte{"archived state's message": late, "skipped key's message": m0} {
		before := r.marshal()
		if _, err := r.decrypt(m); err == nil {
			t.Fatalf("%s decrypted after expiry", name)
		}
		if !bytes.Equal(before, r.marshal()) {
			t.Fatalf("%s: refused message changed the record", name)
		}
	}
	// The session itself goes on.
	m2, _ := curPeer.Encrypt(rand.Reader, []byte("third"))
	if pt, err := r.decrypt(m2); err != nil || string(pt) != "third" {
		t.Fatal(pt, err)
	}
}

// TestSessionRecordVersion1: a record stored before archive times is read
// (its archived states stamped at the next expire) and written as
// version 2.
func TestSessionRecordVersion1(t *testing.T) {
	a, _ := newTestStates(t)
	b, _ := newTestStates(t)
	r, err := parseSessionRecord(recordV1([]*ratchet.State{a, b}))
	if err != nil || len(r.states) != 2 || r.archived[1] != 0 {
		t.Fatalf("version 1 record: %v", err)
	}
	if enc := r.marshal(); enc[0] != sessionRecordVersion {
		t.Fatalf("written as version %d", enc[0])
	}
	now := time.Now()
	r.expire(now)
	if r.archived[1] != uint64(now.Unix()) {
		t.Fatalf("archived state stamped %d, want %d", r.archived[1], now.Unix())
	}
	// A current state with an archive time is malformed.
	bad := r.marshal()
	binary.BigEndian.PutUint64(bad[2:], 5)
	if _, err := parseSessionRecord(bad); !errors.Is(err, errBadSessionRecord) {
		t.Fatalf("current state with an archive time: %v", err)
	}
}

// TestExpireSessionsSweep: the maintenance sweep applies the bounds to
// stored records nobody writes to, and leaves fresh ones as they are.
func TestExpireSessionsSweep(t *testing.T) {
	s := startServers(t, engineSQLite)
	alice := s.newUser("alice")
	put := func(peer string, r *sessionRecord) {
		err := alice.store.Update(ctxT(t), func(tx localstore.Tx) error {
			return tx.PutSession(localstore.Session{PeerHandle: peer, PeerDevice: 1, State: r.marshal(), Updated: time.Now()})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	get := func(peer string) *sessionRecord {
		var r *sessionRecord
		err := alice.store.View(ctxT(t), func(tx localstore.Tx) error {
			s, err := tx.Session(peer, 1)
			if err != nil {
				return err
			}
			r, err = parseSessionRecord(s.State)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	longAgo := uint64(time.Now().Add(-maxArchivedAge - time.Hour).Unix())
	for i, archivedAt := range []uint64{longAgo, uint64(time.Now().Unix())} {
		a, _ := newTestStates(t)
		b, _ := newTestStates(t)
		put(fmt.Sprint("peer", i), &sessionRecord{states: []*ratchet.State{a, b}, archived: []uint64{0, archivedAt}})
	}
	if err := alice.expireSessions(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if r := get("peer0"); len(r.states) != 1 {
		t.Fatalf("old archived state kept: %d states", len(r.states))
	}
	if r := get("peer1"); len(r.states) != 2 {
		t.Fatalf("fresh archived state dropped: %d states", len(r.states))
	}
}
