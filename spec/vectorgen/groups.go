package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/sealpost/sealpost/client/group"
	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/internal/vectors"
)

func init() { register("groups.json", genGroups) }

// The encodings are written out here from spec/groups.md §3.1 and §4.2, and
// each expected new state by hand from §5.3; genGroups checks that
// client/group agrees with every case.

const (
	gLabelState    = "sealpost/v1/group-state"
	gLabelChange   = "sealpost/v1/group-change"
	gLabelChangeID = "sealpost/v1/group-change-id"
)

func gHash(label string, b []byte) []byte {
	h := sha256.Sum256(cat([]byte(label), []byte{0}, b))
	return h[:]
}

// gState encodes a state; a member written "*h" is an admin. Members are
// written in the order given (so unsorted ones can be encoded).
func gState(id []byte, epoch uint64, prev []byte, name string, members ...string) []byte {
	b := cat([]byte{1}, id, binary.BigEndian.AppendUint64(nil, epoch), prev, []byte{byte(len(name))}, []byte(name))
	b = binary.BigEndian.AppendUint16(b, uint16(len(members)))
	for _, m := range members {
		role := byte(0)
		if h, ok := strings.CutPrefix(m, "*"); ok {
			role, m = 1, h
		}
		b = append(b, role, byte(len(m)))
		b = append(b, m...)
	}
	return b
}

// gBody encodes a change's body; kinds with a name get it, kinds with
// members get them (in the order given).
func gBody(id []byte, epoch uint64, prev []byte, author string, kind byte, name string, members []string) []byte {
	b := cat([]byte{1}, id, binary.BigEndian.AppendUint64(nil, epoch), prev, []byte{byte(len(author))}, []byte(author), []byte{kind})
	if kind == 1 || kind == 5 {
		b = append(b, byte(len(name)))
		b = append(b, name...)
	}
	if kind == 1 || kind == 2 || kind == 3 || kind == 6 || kind == 7 {
		b = binary.BigEndian.AppendUint16(b, uint16(len(members)))
		for _, m := range members {
			b = append(b, byte(len(m)))
			b = append(b, m...)
		}
	}
	return b
}

var groupErrNames = map[error]string{
	group.ErrMalformed: "malformed", group.ErrWrongGroup: "wrong_group", group.ErrStaleEpoch: "stale_epoch",
	group.ErrFutureEpoch: "future_epoch", group.ErrWrongPrevious: "wrong_previous", group.ErrUnknownAuthor: "unknown_author",
	group.ErrBadSignature: "bad_signature", group.ErrNotMember: "not_member", group.ErrNotAdmin: "not_admin",
	group.ErrAlreadyMember: "already_member", group.ErrAlreadyAdmin: "already_admin", group.ErrLastAdmin: "last_admin",
	group.ErrTooManyMembers: "too_many_members", group.ErrTooManyChanges: "too_many_changes",
}

func groupErrName(err error) string {
	if err == nil {
		return ""
	}
	for e, n := range groupErrNames {
		if errors.Is(err, e) {
			return n
		}
	}
	return "?" + err.Error()
}

func genGroups() ([]byte, error) {
	r := testrand.New("vectors/groups")
	handles := []string{"alice", "bob", "carol", "dave", "erin", "mallory"}
	priv := map[string]ed25519.PrivateKey{}
	var accounts []vectors.GroupAccount
	for _, h := range handles {
		seed := make([]byte, 32)
		io.ReadFull(r, seed)
		priv[h] = ed25519.NewKeyFromSeed(seed)
		accounts = append(accounts, vectors.GroupAccount{Handle: h, Seed: seed})
	}
	lookup := func(h string) (k [32]byte, ok bool) {
		p, ok := priv[h]
		if ok {
			copy(k[:], p.Public().(ed25519.PublicKey))
		}
		return k, ok
	}
	gid := make([]byte, 32)
	io.ReadFull(r, gid)
	otherGID := make([]byte, 32)
	io.ReadFull(r, otherGID)
	zero := make([]byte, 32)

	type chg struct {
		body, enc []byte
	}
	sign := func(signer string, body []byte) chg {
		sig := ed25519.Sign(priv[signer], cat([]byte(gLabelChange), []byte{0}, body))
		return chg{body, cat(body, sig)}
	}
	var cases []vectors.GroupCase
	// change adds a case applying c to state (nil for a Create); want is
	// the expected new state's encoding, or nil with the expected error.
	change := func(id, comment string, state []byte, c chg, want []byte, wantErr string) error {
		vc := vectors.GroupCase{ID: id, Comment: comment, Type: "change", Accounts: accounts, State: state,
			Change: c.enc, SignedMessage: cat([]byte(gLabelChange), []byte{0}, c.body), ChangeID: gHash(gLabelChangeID, c.body), Error: wantErr}
		if state != nil {
			vc.StateHash = gHash(gLabelState, state)
		}
		// What client/group says.
		var got *group.State
		pc, err := group.ParseChange(c.enc)
		if err == nil {
			if !bytes.Equal(pc.Marshal(), c.enc) {
				return fmt.Errorf("%s: change does not re-encode", id)
			}
			if id := pc.ChangeID(); !bytes.Equal(id[:], vc.ChangeID) || !bytes.Equal(pc.SignedMessage(), vc.SignedMessage) {
				return fmt.Errorf("%s: change id or signed message differ", id)
			}
			if state == nil {
				got, err = group.Create(pc, lookup)
			} else {
				s, perr := group.ParseState(state)
				if perr != nil {
					return fmt.Errorf("%s: state: %v", id, perr)
				}
				if h := s.Hash(); !bytes.Equal(h[:], vc.StateHash) {
					return fmt.Errorf("%s: state hash differs", id)
				}
				got, err = group.Apply(s, pc, lookup)
			}
		}
		if n := groupErrName(err); n != wantErr {
			return fmt.Errorf("%s: client/group says %q, want %q", id, n, wantErr)
		}
		if wantErr == "" {
			if !bytes.Equal(got.Marshal(), want) {
				return fmt.Errorf("%s: new state differs:\n got %x\nwant %x", id, got.Marshal(), want)
			}
			vc.NewState, vc.NewStateHash = want, gHash(gLabelState, want)
		}
		cases = append(cases, vc)
		return nil
	}

	// The chain of §5: each state, the change of it, the next state.
	steps := []struct {
		id, comment, author string
		kind                byte
		name                string
		members             []string
		next                []string // members of the new state
		nextName            string
	}{
		{"create", "alice creates the group with bob and carol", "alice", 1, "family", []string{"bob", "carol"}, []string{"*alice", "bob", "carol"}, "family"},
		{"add", "alice adds erin and dave (sorted in the change)", "alice", 2, "", []string{"dave", "erin"}, []string{"*alice", "bob", "carol", "dave", "erin"}, "family"},
		{"promote", "alice makes bob an admin", "alice", 6, "", []string{"bob"}, []string{"*alice", "*bob", "carol", "dave", "erin"}, "family"},
		{"remove", "bob removes carol", "bob", 3, "", []string{"carol"}, []string{"*alice", "*bob", "dave", "erin"}, "family"},
		{"rename", "bob renames the group (UTF-8)", "bob", 5, "famille ☀", nil, []string{"*alice", "*bob", "dave", "erin"}, "famille ☀"},
		{"demote", "bob demotes alice", "bob", 7, "", []string{"alice"}, []string{"alice", "*bob", "dave", "erin"}, "famille ☀"},
		{"leave", "dave leaves", "dave", 4, "", nil, []string{"alice", "*bob", "erin"}, "famille ☀"},
		{"leave-last-admin", "bob, the last admin, leaves: alice, first in byte order, becomes admin (§5.3)", "bob", 4, "", nil, []string{"*alice", "erin"}, "famille ☀"},
	}
	var state []byte
	prev := zero
	var states [][]byte
	for i, st := range steps {
		epoch := uint64(0)
		if i > 0 {
			epoch = uint64(i - 1)
		}
		p := zero
		if state != nil {
			p = gHash(gLabelState, state)
		}
		c := sign(st.author, gBody(gid, epoch, p, st.author, st.kind, st.name, st.members))
		var nextEpoch uint64
		if i > 0 {
			nextEpoch = epoch + 1
		}
		next := gState(gid, nextEpoch, prev, st.nextName, st.next...)
		if err := change(st.id, st.comment, state, c, next, ""); err != nil {
			return nil, err
		}
		states = append(states, next)
		state, prev = next, gHash(gLabelState, next)
	}

	// Refusals, each against the state after "promote" (epoch 2):
	// members *alice, *bob, carol, dave, erin.
	s2, s1 := states[2], states[1]
	h2, h1 := gHash(gLabelState, s2), gHash(gLabelState, s1)
	rename := func(author string) []byte { return gBody(gid, 2, h2, author, 5, "x", nil) }
	big := make([]string, 996)
	for i := range big {
		big[i] = fmt.Sprintf("m%04d", i)
	}
	refusals := []struct {
		id, comment string
		c           chg
		err         string
	}{
		{"malformed-unsorted", "an add whose members are not in byte order", sign("alice", gBody(gid, 2, h2, "alice", 2, "", []string{"mallory", "frank"})), "malformed"},
		{"malformed-kind", "kind 0x08", sign("alice", gBody(gid, 2, h2, "alice", 8, "", nil)), "malformed"},
		{"malformed-trailing", "a leave with a byte after the signature", chg{nil, cat(sign("dave", gBody(gid, 2, h2, "dave", 4, "", nil)).enc, []byte{0})}, "malformed"},
		{"wrong-group", "a rename of another group id, same epoch and previous hash", sign("alice", gBody(otherGID, 2, h2, "alice", 5, "x", nil)), "wrong_group"},
		{"stale-epoch", "a rename of the state at epoch 1", sign("alice", gBody(gid, 1, h1, "alice", 5, "x", nil)), "stale_epoch"},
		{"future-epoch", "a rename for epoch 3", sign("alice", gBody(gid, 3, h2, "alice", 5, "x", nil)), "future_epoch"},
		{"wrong-previous", "a rename at epoch 2 naming the hash of epoch 1: a fork", sign("alice", gBody(gid, 2, h1, "alice", 5, "x", nil)), "wrong_previous"},
		{"unknown-author", "zed has no account key in the directory", chg{rename("zed"), cat(rename("zed"), make([]byte, 64))}, "unknown_author"},
		{"bad-signature", "alice's rename signed by mallory's key", sign("mallory", rename("alice")), "bad_signature"},
		{"author-not-member", "mallory (a real account) adds herself", sign("mallory", gBody(gid, 2, h2, "mallory", 2, "", []string{"mallory"})), "not_member"},
		{"leave-not-member", "mallory leaves a group she is not in", sign("mallory", gBody(gid, 2, h2, "mallory", 4, "", nil)), "not_member"},
		{"remove-not-member", "alice removes mallory, not a member", sign("alice", gBody(gid, 2, h2, "alice", 3, "", []string{"mallory"})), "not_member"},
		{"not-admin", "carol, a member, renames", sign("carol", rename("carol")), "not_admin"},
		{"demote-not-admin", "alice demotes carol, not an admin", sign("alice", gBody(gid, 2, h2, "alice", 7, "", []string{"carol"})), "not_admin"},
		{"already-member", "alice adds dave, a member, and mallory", sign("alice", gBody(gid, 2, h2, "alice", 2, "", []string{"dave", "mallory"})), "already_member"},
		{"already-admin", "alice promotes bob, an admin", sign("alice", gBody(gid, 2, h2, "alice", 6, "", []string{"bob"})), "already_admin"},
		{"last-admin", "alice demotes both admins", sign("alice", gBody(gid, 2, h2, "alice", 7, "", []string{"alice", "bob"})), "last_admin"},
		{"too-many-members", "alice adds 996 to 5 members: 1001", sign("alice", gBody(gid, 2, h2, "alice", 2, "", big)), "too_many_members"},
	}
	for _, rc := range refusals {
		if err := change(rc.id, rc.comment, s2, rc.c, nil, rc.err); err != nil {
			return nil, err
		}
	}

	// A concurrent pair of the state at epoch 2.
	ca := sign("alice", gBody(gid, 2, h2, "alice", 5, "picnic", nil))
	cb := sign("bob", gBody(gid, 2, h2, "bob", 2, "", []string{"mallory"}))
	ida, idb := gHash(gLabelChangeID, ca.body), gHash(gLabelChangeID, cb.body)
	winner, want := "change", gState(gid, 3, h2, "picnic", "*alice", "*bob", "carol", "dave", "erin")
	if bytes.Compare(idb, ida) < 0 {
		winner, want = "other", gState(gid, 3, h2, "family", "*alice", "*bob", "carol", "dave", "erin", "mallory")
	}
	{
		s, _ := group.ParseState(s2)
		tr, err := group.NewTracker(s)
		if err != nil {
			return nil, err
		}
		pa, _ := group.ParseChange(ca.enc)
		pb, _ := group.ParseChange(cb.enc)
		tr.Add(pb, lookup)
		tr.Add(pa, lookup)
		if !bytes.Equal(tr.State().Marshal(), want) {
			return nil, fmt.Errorf("concurrent: client/group picks another winner")
		}
	}
	cases = append(cases, vectors.GroupCase{ID: "concurrent", Comment: "alice renames while bob adds mallory, both of epoch 2: the smaller change id wins (§6.1)",
		Type: "concurrent", Accounts: accounts, State: s2, StateHash: h2, Change: ca.enc, ChangeID: ida, Other: cb.enc, OtherID: idb,
		Winner: winner, NewState: want, NewStateHash: gHash(gLabelState, want)})

	// State parsing (§3.3).
	last := states[len(states)-1]
	bad := func(f func([]byte) []byte) []byte { return f(bytes.Clone(s2)) }
	stateCases := []struct {
		id, comment string
		enc         []byte
		err         string
	}{
		{"state", "the state after leave-last-admin", last, ""},
		{"state-empty-group", "no member left", gState(gid, 9, h2, "family"), ""},
		{"state-truncated", "one byte short", s2[:len(s2)-1], "malformed"},
		{"state-trailing", "one byte more", cat(s2, []byte{0}), "malformed"},
		{"state-version", "version 2", bad(func(b []byte) []byte { b[0] = 2; return b }), "malformed"},
		{"state-epoch", "epoch 2^62 + 1", gState(gid, 1<<62+1, h2, "family", "*alice"), "malformed"},
		{"state-prev-at-zero", "epoch 0 with a previous hash", gState(gid, 0, h2, "family", "*alice"), "malformed"},
		{"state-name-utf8", "a name that is not UTF-8", gState(gid, 1, h2, "\xff", "*alice"), "malformed"},
		{"state-name-long", "a name of 129 bytes", gState(gid, 1, h2, strings.Repeat("n", 129), "*alice"), "malformed"},
		{"state-role", "role 0x02", bad(func(b []byte) []byte { b[1+32+8+32+1+len("family")+2] = 2; return b }), "malformed"},
		{"state-no-admin", "members but no admin", gState(gid, 1, h2, "family", "alice", "bob"), "malformed"},
		{"state-unsorted", "members not in byte order", gState(gid, 1, h2, "family", "*bob", "alice"), "malformed"},
		{"state-twice", "one member twice", gState(gid, 1, h2, "family", "*alice", "alice"), "malformed"},
		{"state-handle", "a member that is not a handle", gState(gid, 1, h2, "family", "*Alice"), "malformed"},
	}
	for _, sc := range stateCases {
		vc := vectors.GroupCase{ID: sc.id, Comment: sc.comment, Type: "state", Encoding: sc.enc, Error: sc.err}
		s, err := group.ParseState(sc.enc)
		if n := groupErrName(err); n != sc.err {
			return nil, fmt.Errorf("%s: client/group says %q", sc.id, n)
		}
		if err == nil {
			if !bytes.Equal(s.Marshal(), sc.enc) {
				return nil, fmt.Errorf("%s: does not re-encode", sc.id)
			}
			vc.NewStateHash = gHash(gLabelState, sc.enc)
		}
		cases = append(cases, vc)
	}
	return encode(&vectors.File[vectors.GroupCase]{
		Description: "Group states and state changes: a chain of every kind, every refusal of a change against one state, a concurrent pair and its winner, state parsing. Account keys are given by their Ed25519 seeds.",
		Spec:        "spec/groups.md",
		Cases:       cases,
	})
}
