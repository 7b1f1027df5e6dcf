package postgres

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/keyserver/store"
)

// claimGroupOf runs one group of claims (one claimSQL statement) for
// handles, in order.
func claimGroupOf(t *testing.T, s *Store, handles ...string) []*claimReq {
	t.Helper()
	batch := make([]*claimReq, len(handles))
	for i, h := range handles {
		batch[i] = &claimReq{ctx: t.Context(), handle: h}
	}
	if err := s.claimGroup(t.Context(), batch); err != nil {
		t.Fatalf("claim group %q: %v", handles, err)
	}
	return batch
}

// groupFixture stores alice (devices 1 and 2, two one-time X25519 and three
// one-time KEM prekeys each), bob (a device without prekeys, so not
// eligible) and returns the store and its DSN.
func groupFixture(t *testing.T) (*Store, string) {
	t.Helper()
	dsn := pgtest.DSN(t)
	s, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := t.Context()
	now := time.Unix(1_700_000_000, 0)
	for i, u := range []store.KeySetUpdate{
		{Handle: "alice", AddDevice: &store.Device{ID: 1, Certificate: []byte("cert alice 1")}},
		{Handle: "alice", ExpectedVersion: 1, AddDevice: &store.Device{ID: 2, Certificate: []byte("cert alice 2")}},
		{Handle: "bob", AddDevice: &store.Device{ID: 1, Certificate: []byte("cert bob 1")}},
	} {
		u.Leaf, u.Now = fmt.Appendf(nil, "leaf %d", i), now
		if _, err := s.UpdateKeySet(ctx, u); err != nil {
			t.Fatalf("key set %d: %v", i, err)
		}
	}
	for _, d := range []uint32{1, 2} {
		up := store.Upload{Handle: "alice", Device: d, MaxOneTime: 10,
			Signed:     &store.Prekey{ID: 1, Encoded: fmt.Appendf(nil, "signed %d", d)},
			LastResort: &store.Prekey{ID: 2, Encoded: fmt.Appendf(nil, "last resort %d", d)}}
		for i := range 3 {
			if i < 2 {
				up.OneTime = append(up.OneTime, store.Prekey{ID: uint32(i + 1), Encoded: fmt.Appendf(nil, "x %d/%d", d, i)})
			}
			up.OneTimeKEM = append(up.OneTimeKEM, store.Prekey{ID: uint32(i + 1), Encoded: fmt.Appendf(nil, "k %d/%d", d, i)})
		}
		if err := s.UploadPrekeys(ctx, up); err != nil {
			t.Fatal(err)
		}
	}
	return s, dsn
}

// One statement holding several claims of one handle gives each its own
// keys, lowest ids first, and falls back per kind once that kind runs out;
// an unknown handle and an account without an eligible device get their
// own answers.
func TestClaimGroupSameHandle(t *testing.T) {
	s, _ := groupFixture(t)
	got := claimGroupOf(t, s, "alice", "nobody", "alice", "bob", "alice", "alice")
	if !errors.Is(got[1].err, store.ErrNotFound) || got[1].out != nil {
		t.Errorf("unknown handle: %v, %+v", got[1].err, got[1].out)
	}
	if got[3].err != nil || got[3].contended || len(got[3].out) != 0 {
		t.Errorf("account without eligible device: %v, contended %v, %d claims", got[3].err, got[3].contended, len(got[3].out))
	}
	// alice's claims in order: x25519 keys 0, 1 then none; KEM 0, 1, 2
	// then the last resort.
	for n, i := range []int{0, 2, 4, 5} {
		r := got[i]
		if r.err != nil || r.contended || len(r.out) != 2 {
			t.Fatalf("alice claim %d: %v, contended %v, %d claims", n, r.err, r.contended, len(r.out))
		}
		for j, c := range r.out {
			d := j + 1
			if c.Device != uint32(d) || string(c.Signed) != fmt.Sprintf("signed %d", d) || string(c.Certificate) != fmt.Sprintf("cert alice %d", d) {
				t.Errorf("alice claim %d device %d: %+v", n, d, c)
			}
			wantX := ""
			if n < 2 {
				wantX = fmt.Sprintf("x %d/%d", d, n)
			}
			wantK, oneTime := fmt.Sprintf("k %d/%d", d, n), true
			if n == 3 {
				wantK, oneTime = fmt.Sprintf("last resort %d", d), false
			}
			if string(c.OneTime) != wantX || string(c.KEM) != wantK || c.KEMOneTime != oneTime {
				t.Errorf("alice claim %d device %d: one-time %q, KEM %q (one-time %v); want %q, %q (%v)",
					n, d, c.OneTime, c.KEM, c.KEMOneTime, wantX, wantK, oneTime)
			}
		}
	}
	for _, d := range []uint32{1, 2} {
		if c, err := s.CountPrekeys(t.Context(), "alice", d); err != nil || c != (store.Counts{}) {
			t.Errorf("device %d: counts %+v, %v", d, c, err)
		}
	}
}

// In a group, the claims of a handle beyond the keys the statement could
// lock, while another transaction holds the rest locked, are contended:
// they take nothing (not even the keys of other kinds they could have
// had), and the claims within the supply are served.
func TestClaimGroupContended(t *testing.T) {
	s, dsn := groupFixture(t)
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // test cleanup
	// Hold device 1's second X25519 key.
	if _, err := tx.Exec(ctx, `SELECT 1 FROM prekeys WHERE device = 1 AND kind = 0 AND id = 2 FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	got := claimGroupOf(t, s, "alice", "alice", "alice")
	if r := got[0]; r.err != nil || r.contended || len(r.out) != 2 || string(r.out[0].OneTime) != "x 1/0" || string(r.out[1].OneTime) != "x 2/0" {
		t.Fatalf("first claim: %v, contended %v, %+v", r.err, r.contended, r.out)
	}
	for i, r := range got[1:] {
		if r.err != nil || !r.contended || r.out != nil {
			t.Errorf("claim %d: %v, contended %v, %+v; want contended", i+2, r.err, r.contended, r.out)
		}
	}
	// The contended claims took nothing: device 2 kept its second X25519
	// key and both devices two KEM keys.
	for _, d := range []uint32{1, 2} {
		if c, err := s.CountPrekeys(ctx, "alice", d); err != nil || c.OneTime != 1 || c.OneTimeKEM != 2 {
			t.Errorf("device %d: counts %+v, %v; want 1 and 2", d, c, err)
		}
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	got = claimGroupOf(t, s, "alice", "alice")
	if r := got[0]; r.err != nil || r.contended || string(r.out[0].OneTime) != "x 1/1" || string(r.out[1].OneTime) != "x 2/1" {
		t.Errorf("claim after rollback: %v, contended %v, %+v", r.err, r.contended, r.out)
	}
	if r := got[1]; r.err != nil || r.contended || r.out[0].OneTime != nil || string(r.out[0].KEM) != "k 1/2" {
		t.Errorf("second claim after rollback: %v, contended %v, %+v", r.err, r.contended, r.out)
	}
}
