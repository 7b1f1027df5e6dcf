package ksclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"testing"

	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/api"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/kt/directory"
)

// history fetches handle's history with a token of u's device 1.
func (s *server) history(u *user) *api.DirectoryHistory {
	s.t.Helper()
	h, err := s.c.DirectoryHistory(context.Background(), s.tokenFor(u, 1), u.handle)
	if err != nil {
		s.t.Fatal(err)
	}
	return h
}

// cloneHistory deep-copies a history answer (through JSON), for a test
// to forge.
func cloneHistory(t *testing.T, h *api.DirectoryHistory) *api.DirectoryHistory {
	t.Helper()
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var out api.DirectoryHistory
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func TestVerifyDirectoryHistory(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, "", nil)
	v := s.verifier()
	alice, bob := s.newUser("alice"), s.newUser("bob")
	s.register(alice)
	s.register(bob)
	s.addDevice(alice, 2)
	s.addDevice(bob, 2)
	s.revoke(alice, 2)
	pin := s.checkpoint(v)
	h := s.history(alice)
	hb := s.history(bob)

	got, next, err := VerifyDirectoryHistory(ctx, s.c, v, s.vrfKey(), pin, fresh(), "alice", h)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != 3 || got.Entries[2].Version != 3 || got.Entries[2].Devices[1].Revocation == nil ||
		!equalU64(got.Epochs, []uint64{2, 4, 6}) || next.Size != 6 { // epoch 1 is the first, empty one
		t.Fatalf("history: %d entries, epochs %v, pin %d", len(got.Entries), got.Epochs, next.Size)
	}

	for _, tc := range []struct {
		name  string
		forge func(h *api.DirectoryHistory)
	}{
		{"last version withheld", func(h *api.DirectoryHistory) {
			h.Versions = h.Versions[:2]
		}},
		{"first version withheld", func(h *api.DirectoryHistory) { h.Versions = h.Versions[1:] }},
		{"versions swapped", func(h *api.DirectoryHistory) { h.Versions[0], h.Versions[1] = h.Versions[1], h.Versions[0] }},
		{"a proof withheld", func(h *api.DirectoryHistory) { h.Proofs = h.Proofs[1:] }},
		{"a proof's map proof flipped", func(h *api.DirectoryHistory) {
			h.Proofs[0].MapProof[len(h.Proofs[0].MapProof)-1] ^= 1
		}},
		{"an opening flipped", func(h *api.DirectoryHistory) { h.Versions[1].Opening[0] ^= 1 }},
		{"an entry of another handle", func(h *api.DirectoryHistory) {
			h.Versions[0].Entry, h.Versions[0].Opening = hb.Versions[0].Entry, hb.Versions[0].Opening
		}},
		{"VRF proof of another handle", func(h *api.DirectoryHistory) { h.VRFProof = hb.VRFProof }},
		{"handle changed", func(h *api.DirectoryHistory) { h.Handle = "bob" }},
		{"an epoch changed", func(h *api.DirectoryHistory) { h.Versions[1].Epoch++ }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := cloneHistory(t, h)
			tc.forge(f)
			got, next, err := VerifyDirectoryHistory(ctx, s.c, v, s.vrfKey(), pin, fresh(), "alice", f)
			if !errors.Is(err, kt.ErrSecurity) || got != nil || next != nil {
				t.Fatalf("got %v, want kt.ErrSecurity", err)
			}
		})
	}
	// Bob's genuine history still passes, for bob only.
	if _, _, err := VerifyDirectoryHistory(ctx, s.c, v, s.vrfKey(), pin, fresh(), "bob", hb); err != nil {
		t.Fatal(err)
	}
	if _, _, err := VerifyDirectoryHistory(ctx, s.c, v, s.vrfKey(), pin, fresh(), "alice", hb); !errors.Is(err, kt.ErrSecurity) {
		t.Fatalf("bob's history as alice's: %v", err)
	}
	// Only a device of the account may fetch it.
	if _, err := s.c.DirectoryHistory(ctx, s.tokenFor(bob, 1), "alice"); err == nil {
		t.Fatal("bob fetched alice's history")
	}
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// audit runs AuditDirectory from st and checks that a failure returns
// nothing.
func audit(t *testing.T, s *server, v *kt.Verifier, pinned *kt.Checkpoint, st *directory.AuditState) (*AuditResult, error) {
	t.Helper()
	before := st.Marshal()
	res, err := AuditDirectory(context.Background(), s.c, v, pinned, fresh(), st, nil)
	if err != nil && res != nil {
		t.Errorf("AuditDirectory failed with %v but returned a result", err)
	}
	if !bytes.Equal(st.Marshal(), before) {
		t.Error("AuditDirectory changed the state it started from")
	}
	return res, err
}

func TestAuditDirectory(t *testing.T) {
	s := newServer(t, "", nil) // MaxLeaves 3: pages of three epochs
	v := s.verifier()
	genesis, err := directory.NewAuditState(s.vrfKey())
	if err != nil {
		t.Fatal(err)
	}
	users := []*user{s.newUser("alice"), s.newUser("bob"), s.newUser("carol"), s.newUser("dave")}
	for _, u := range users {
		s.register(u)
	}
	s.addDevice(users[0], 2)
	s.revoke(users[0], 2) // 7 epochs (the first, empty one and one per change), 6 updates

	var pages []uint64
	res, err := AuditDirectory(context.Background(), s.c, v, nil, fresh(), genesis, func(done, total uint64) {
		if total != 7 {
			t.Errorf("progress total %d", total)
		}
		pages = append(pages, done)
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.State.Size != 7 || res.Checked != 7 || res.Updates != 6 || res.Pin.Size != 7 || !equalU64(pages, []uint64{3, 6, 7}) {
		t.Fatalf("audit: %+v, pages %v", res, pages)
	}
	first := res

	// Incremental: only the new epochs are fetched.
	s.addDevice(users[1], 2)
	batches := s.count("/v2/log/batch")
	res, err = audit(t, s, v, first.Pin, first.State)
	if err != nil {
		t.Fatal(err)
	}
	if res.State.Size != 8 || res.Checked != 1 || res.Updates != 1 || s.count("/v2/log/batch") != batches+1 {
		t.Fatalf("second audit: %+v, %d batches fetched", res, s.count("/v2/log/batch")-batches)
	}
	// Nothing new: nothing fetched, the checkpoint is the audited tree's.
	if res, err = audit(t, s, v, res.Pin, res.State); err != nil || res.Checked != 0 {
		t.Fatalf("third audit: %+v, %v", res, err)
	}

	// Forged public data: each refused as evidence, with and without a
	// pin, and from the start or from the first audit.
	for _, tc := range []struct {
		name string
		path string
		edit func(body []byte) []byte
	}{
		{"batch byte flipped", "/v2/log/batch", func(b []byte) []byte {
			var r api.BatchResponse
			json.Unmarshal(b, &r)
			r.Batch[len(r.Batch)-1] ^= 1
			out, _ := json.Marshal(r)
			return out
		}},
		{"batch proof byte flipped", "/v2/log/batch", func(b []byte) []byte {
			var r api.BatchResponse
			json.Unmarshal(b, &r)
			r.Proof[len(r.Proof)-1] ^= 1
			out, _ := json.Marshal(r)
			return out
		}},
		{"leaf byte flipped", "/v2/log/leaves", func(b []byte) []byte {
			var r api.LeavesResponse
			json.Unmarshal(b, &r)
			r.Leaves[0][50] ^= 1
			out, _ := json.Marshal(r)
			return out
		}},
		{"leaves reordered", "/v2/log/leaves", func(b []byte) []byte {
			var r api.LeavesResponse
			json.Unmarshal(b, &r)
			if len(r.Leaves) > 1 {
				r.Leaves[0], r.Leaves[1] = r.Leaves[1], r.Leaves[0]
			} else {
				r.Leaves[0][1] ^= 1
			}
			out, _ := json.Marshal(r)
			return out
		}},
	} {
		for _, from := range []*AuditResult{nil, first} {
			st, pinned, name := genesis, (*kt.Checkpoint)(nil), tc.name+"/from the start"
			if from != nil {
				st, pinned, name = from.State, from.Pin, tc.name+"/from the first audit"
			}
			t.Run(name, func(t *testing.T) {
				s.rewrite(tc.path, func(status int, body []byte) (int, []byte) { return status, tc.edit(body) })
				defer s.setForge(nil)
				if _, err := audit(t, s, v, pinned, st); !errors.Is(err, kt.ErrSecurity) {
					t.Fatalf("got %v, want kt.ErrSecurity", err)
				}
			})
		}
	}

	// A fork with the same keys: refused from the audited state, even
	// without a pin.
	fork := newServer(t, "fork", func(c *keyserver.Config) { c.LogKey, c.VRFKey = s.logKey, s.vrf })
	for _, u := range []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"} {
		fork.register(fork.newUser(u))
	}
	if _, err := audit(t, fork, v, nil, first.State); !errors.Is(err, kt.ErrSecurity) {
		t.Fatalf("fork: %v", err)
	}
	// Alone, from the start, the fork audits: only the state (or pin,
	// or witnesses) tells the views apart.
	if _, err := audit(t, fork, v, nil, genesis); err != nil {
		t.Fatalf("fork alone: %v", err)
	}

	// A network failure is not evidence.
	s.setForge(func(w http.ResponseWriter, r *http.Request, real http.Handler) bool {
		if r.URL.Path == "/v2/log/batch" && r.URL.Query().Get("epoch") == strconv.Itoa(2) {
			panic(http.ErrAbortHandler)
		}
		return false
	})
	if _, err := audit(t, s, v, nil, genesis); err == nil || errors.Is(err, kt.ErrSecurity) {
		t.Fatalf("network failure: %v", err)
	}
}
