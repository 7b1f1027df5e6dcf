package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sealpost/sealpost/client/content"
	"github.com/sealpost/sealpost/client/content/contentpb"
	"github.com/sealpost/sealpost/client/group"
	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/crypto/keys"
)

// Group membership (spec/groups.md, spec/client.md §14): every change is
// signed by its author's account key, applied by every member against its
// own state, and carried to the member devices over the pairwise sessions
// as a GroupChange (spec/content.md §4.11). The relay and the key server
// never see a group's id, name or members.

// GroupID names a group: 32 random bytes chosen by its creator.
type GroupID [group.IDSize]byte

// String returns the id in hex.
func (g GroupID) String() string { return hex.EncodeToString(g[:]) }

// ParseGroupID parses the hex form of String.
func ParseGroupID(s string) (GroupID, error) {
	var g GroupID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(g) {
		return g, fmt.Errorf("%w: %q is not a group id (64 hex digits)", ErrUnknownGroup, s)
	}
	return GroupID(b), nil
}

// Group is a group's state as this device holds it.
type Group struct {
	ID      GroupID
	Name    string
	Epoch   uint64
	Members []string // in byte order, this account included
	Admins  []string
}

// ErrUnknownGroup reports a group this device is not in (or never was).
var ErrUnknownGroup = errors.New("client: unknown group")

// ErrGroupRefused wraps a group change this device would not make: the
// group layer's refusal (spec/errors.md §3.20, client/group's errors:
// not_admin, last_admin, already_member, ...). Nothing changed.
var ErrGroupRefused = errors.New("client: group change refused")

// ErrGroupOutOfSync is the Err of EventGroupOutOfSync: a member's group
// message named a state this device does not agree with (spec/client.md
// §14.4).
var ErrGroupOutOfSync = errors.New("client: group state out of sync")

// groupFromState converts a group state.
func groupFromState(s *group.State) *Group {
	return &Group{ID: GroupID(s.ID), Name: s.Name, Epoch: s.Epoch, Members: s.Handles(), Admins: s.Admins()}
}

// encodeTracker is the tracker row of spec/client-store.md §4.25:
// u32 length || base state, then u32 count and count × (u32 length ||
// change), the changes as Tracker.Changes returns them.
func encodeTracker(t *group.Tracker) []byte {
	base := t.Base().Marshal()
	b := binary.BigEndian.AppendUint32(nil, uint32(len(base)))
	b = append(b, base...)
	cs := t.Changes()
	b = binary.BigEndian.AppendUint32(b, uint32(len(cs)))
	for _, c := range cs {
		m := c.Marshal()
		b = binary.BigEndian.AppendUint32(b, uint32(len(m)))
		b = append(b, m...)
	}
	return b
}

// decodeTracker rebuilds a tracker from its row (group.Restore re-applies
// the rules, not the signatures, checked when each change arrived).
func decodeTracker(b []byte) (*group.Tracker, error) {
	next := func() ([]byte, bool) {
		if len(b) < 4 {
			return nil, false
		}
		n := binary.BigEndian.Uint32(b)
		if uint64(len(b)-4) < uint64(n) {
			return nil, false
		}
		v := b[4 : 4+n]
		b = b[4+n:]
		return v, true
	}
	bad := func(what string) error { return fmt.Errorf("%w: stored group: %s", ErrCorrupt, what) }
	raw, ok := next()
	if !ok {
		return nil, bad("base state")
	}
	base, err := group.ParseState(raw)
	if err != nil {
		return nil, bad(err.Error())
	}
	if len(b) < 4 {
		return nil, bad("change count")
	}
	n := binary.BigEndian.Uint32(b)
	b = b[4:]
	var cs []*group.Change
	for range n {
		raw, ok := next()
		if !ok {
			return nil, bad("change")
		}
		c, err := group.ParseChange(raw)
		if err != nil {
			return nil, bad(err.Error())
		}
		cs = append(cs, c)
	}
	if len(b) != 0 {
		return nil, bad("trailing bytes")
	}
	t, err := group.Restore(base, cs)
	if err != nil {
		return nil, bad(err.Error())
	}
	return t, nil
}

// loadGroupTx reads group gid's tracker; ErrUnknownGroup if this device
// holds none.
func loadGroupTx(tx localstore.Tx, gid GroupID) (*group.Tracker, error) {
	raw, err := tx.Group(gid[:])
	if errors.Is(err, localstore.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrUnknownGroup, gid)
	}
	if err != nil {
		return nil, err
	}
	return decodeTracker(raw)
}

// groupStateTx returns group gid's current state, decoding the stored
// tracker only when its sealed bytes differ from the last ones decoded (a
// tracker of a large group is rebuilt by applying its kept changes again:
// too slow for every group message). The state must not be changed.
func (c *Client) groupStateTx(tx localstore.Tx, gid GroupID) (*group.State, error) {
	sealed, err := tx.GroupSealed(gid[:])
	if errors.Is(err, localstore.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrUnknownGroup, gid)
	}
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	hit, ok := c.groupStates[gid]
	c.mu.Unlock()
	if ok && bytes.Equal(hit.raw, sealed) {
		return hit.state, nil
	}
	raw, err := tx.OpenGroup(gid[:], sealed)
	if err != nil {
		return nil, err
	}
	tr, err := decodeTracker(raw)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.groupStates == nil || len(c.groupStates) >= 64 {
		c.groupStates = map[GroupID]decodedGroup{}
	}
	c.groupStates[gid] = decodedGroup{raw: sealed, state: tr.State()}
	c.mu.Unlock()
	return tr.State(), nil
}

// decodedGroup is a stored tracker's sealed bytes and the state they hold.
type decodedGroup struct {
	raw   []byte
	state *group.State
}

// accountKeysTx looks an author's account key up in the key sets this
// device verified and stored (spec/groups.md §5.2 step 6): a change is
// checked against the key directory as this device saw it, never against
// anything the change carries.
func accountKeysTx(tx localstore.Tx, id *identity) group.KeyLookup {
	return func(handle string) ([32]byte, bool) {
		if handle == id.handle {
			return [32]byte(id.accountKey), true
		}
		e, err := storedKeySetTx(tx, handle)
		if err != nil {
			return [32]byte{}, false
		}
		return [32]byte(e.AccountKey), true
	}
}

// CreateGroup creates a group named name with this account as its first
// admin and members as the other first members, and tells every member's
// devices and this account's other devices (spec/groups.md §4, §8.1).
// The members must be accounts this device can look up; it needs the
// account key (ErrNoAccountKey on a device without it).
func (c *Client) CreateGroup(ctx context.Context, name string, members ...string) (GroupID, error) {
	ctx, id, done, err := c.beginRegistered(ctx)
	if err != nil {
		return GroupID{}, err
	}
	defer done()
	for _, h := range members {
		if keys.CheckHandle(h) != nil {
			return GroupID{}, fmt.Errorf("%w: %q", ErrInvalidHandle, h)
		}
		// Every member's key set is looked up and stored before anything
		// is sent: the members check the change against theirs.
		if _, err := c.lookup(ctx, h, true); err != nil {
			return GroupID{}, err
		}
	}
	gid, err := group.NewGroupID(rand.Reader)
	if err != nil {
		return GroupID{}, err
	}
	ch, err := group.NewCreate(gid, id.handle, name, slices.DeleteFunc(slices.Clone(members), func(h string) bool { return h == id.handle }))
	if err != nil {
		return GroupID{}, fmt.Errorf("%w: %w", ErrGroupRefused, err)
	}
	if err := c.signChange(id, ch); err != nil {
		return GroupID{}, err
	}
	st, err := group.Create(ch, func(h string) ([32]byte, bool) { return [32]byte(id.accountKey), h == id.handle })
	if err != nil {
		return GroupID{}, fmt.Errorf("%w: %w", ErrGroupRefused, err)
	}
	tr, err := group.NewTracker(st)
	if err != nil {
		return GroupID{}, err
	}
	return GroupID(gid), c.distributeChange(ctx, id, tr, ch, nil, nil, st.Handles(), nil)
}

// AddMembers adds accounts to a group (an admin's change); each new member
// gets the change with the state it applies to.
func (c *Client) AddMembers(ctx context.Context, gid GroupID, handles ...string) error {
	return c.changeGroup(ctx, gid, group.Intent{Kind: group.KindAdd, Members: handles})
}

// RemoveMembers removes accounts from a group (an admin's change); they
// are told, and see nothing sent after.
func (c *Client) RemoveMembers(ctx context.Context, gid GroupID, handles ...string) error {
	return c.changeGroup(ctx, gid, group.Intent{Kind: group.KindRemove, Members: handles})
}

// LeaveGroup takes this account out of a group.
func (c *Client) LeaveGroup(ctx context.Context, gid GroupID) error {
	return c.changeGroup(ctx, gid, group.Intent{Kind: group.KindLeave})
}

// SetGroupName renames a group (an admin's change).
func (c *Client) SetGroupName(ctx context.Context, gid GroupID, name string) error {
	return c.changeGroup(ctx, gid, group.Intent{Kind: group.KindRename, Name: name})
}

// Promote makes members admins (an admin's change).
func (c *Client) Promote(ctx context.Context, gid GroupID, handles ...string) error {
	return c.changeGroup(ctx, gid, group.Intent{Kind: group.KindPromote, Members: handles})
}

// Demote makes admins plain members (an admin's change); the last admin
// cannot be demoted.
func (c *Client) Demote(ctx context.Context, gid GroupID, handles ...string) error {
	return c.changeGroup(ctx, gid, group.Intent{Kind: group.KindDemote, Members: handles})
}

// changeGroup signs a change of group gid by this account, applies it and
// sends it to every member before and after it, in the transaction that
// stores the new state.
func (c *Client) changeGroup(ctx context.Context, gid GroupID, in group.Intent) error {
	return c.changeGroupWith(ctx, gid, in, nil)
}

// changeGroupWith is changeGroup, with also, if set, in the transaction
// that stores the new state and queues the change.
func (c *Client) changeGroupWith(ctx context.Context, gid GroupID, in group.Intent, also func(tx localstore.Tx) error) error {
	ctx, id, done, err := c.beginRegistered(ctx)
	if err != nil {
		return err
	}
	defer done()
	for _, h := range in.Members {
		if keys.CheckHandle(h) != nil {
			return fmt.Errorf("%w: %q", ErrInvalidHandle, h)
		}
	}
	if in.Kind == group.KindAdd {
		for _, h := range in.Members {
			if _, err := c.lookup(ctx, h, true); err != nil {
				return err
			}
		}
	}
	var tr *group.Tracker
	if err := c.store.View(ctx, func(tx localstore.Tx) error {
		var err error
		tr, err = loadGroupTx(tx, gid)
		return err
	}); err != nil {
		return storeError(err)
	}
	before := tr.State()
	ch, err := group.NewChange(before, id.handle, in)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrGroupRefused, err)
	}
	if err := c.signChange(id, ch); err != nil {
		return err
	}
	res, err := tr.Add(ch, func(h string) ([32]byte, bool) { return [32]byte(id.accountKey), h == id.handle })
	if err != nil {
		return fmt.Errorf("%w: %w", ErrGroupRefused, err)
	}
	if !slices.Contains(res.Applied, ch) {
		return fmt.Errorf("%w: not applied to the current state", ErrGroupRefused)
	}
	// Everyone in the group before or after: the removed are told too.
	// The added get the state the change applies to.
	var added []string
	if in.Kind == group.KindAdd {
		added = in.Members
	}
	return c.distributeChange(ctx, id, tr, ch, before, added, append(before.Handles(), tr.State().Handles()...), also)
}

// signChange signs ch with this account's key.
func (c *Client) signChange(id *identity, ch *group.Change) error {
	ak, release, err := id.accountPrivate()
	if err != nil {
		return err
	}
	defer release()
	sig := ak.SignGroupChange(ch.Body())
	return ch.SetSignature(sig[:])
}

// distributeChange stores tr and queues ch as a GroupChange to the devices
// of every account of to but this one, and to this account's other
// devices, in one transaction (spec/groups.md §8.1). With added (an Add),
// every copy carries state, the state ch applies to, which the added
// accounts need to join and the others ignore: one body, so that the new
// state and every copy are queued together or not at all.
func (c *Client) distributeChange(ctx context.Context, id *identity, tr *group.Tracker, ch *group.Change, state *group.State, added, to []string, also func(tx localstore.Tx) error) error {
	gid := tr.State().ID
	store := func(tx localstore.Tx, _ MessageID, now time.Time) error {
		if also != nil {
			if err := also(tx); err != nil {
				return err
			}
		}
		if state != nil {
			// A member gone: a new sending chain before the next group
			// message (spec/groups.md §8.3).
			if err := groupMembersLeft(tx, GroupID(gid), state, tr.State()); err != nil {
				return err
			}
		}
		return tx.PutGroup(gid[:], encodeTracker(tr), now)
	}
	slices.Sort(to)
	to = slices.Compact(to)
	to = slices.DeleteFunc(to, func(h string) bool { return h == id.handle })
	gc := &contentpb.GroupChange{Change: ch.Marshal()}
	if len(added) > 0 {
		gc.State = state.Marshal()
	}
	body, err := content.Marshal(&content.Content{Content: &contentpb.Content{Kind: &contentpb.Content_GroupChange{GroupChange: gc}}})
	if err != nil {
		return err
	}
	m := &outMessage{version: payloadVersion2, body: body, kind: content.KindGroupChange, wait: true, apply: store}
	first := id.handle // no other account: this account's devices only
	if len(to) > 0 {
		first, m.others = to[0], to[1:]
	} else {
		m.noPeer = true
	}
	_, err = c.send(ctx, first, m, nil)
	if errors.Is(err, errNoTargets) && len(to) == 0 {
		// Nobody else and no other device: kept here only.
		return storeError(c.store.Update(ctx, func(tx localstore.Tx) error { return store(tx, MessageID{}, time.Now()) }))
	}
	return err
}

// Groups returns the groups this device is in, by id.
func (c *Client) Groups(ctx context.Context) ([]Group, error) {
	ctx, id, done, err := c.beginRegistered(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	var out []Group
	err = c.store.View(ctx, func(tx localstore.Tx) error {
		states, err := memberGroups(tx, id.handle, true)
		if err != nil {
			return err
		}
		for _, s := range states {
			out = append(out, *groupFromState(s))
		}
		return nil
	})
	return out, storeError(err)
}

// GroupMembers returns group gid's state as this device holds it.
func (c *Client) GroupMembers(ctx context.Context, gid GroupID) (*Group, error) {
	ctx, _, done, err := c.beginRegistered(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	var g *Group
	err = c.store.View(ctx, func(tx localstore.Tx) error {
		tr, err := loadGroupTx(tx, gid)
		if err != nil {
			return err
		}
		g = groupFromState(tr.State())
		return nil
	})
	return g, storeError(err)
}

// groupFollowUp is work a received group message leaves for after its
// transaction commits, done in the background: the stored changes of this
// account that lost a race signed again (rebase), a member looked up again
// (lookup: a new sending chain from it may follow a device revoked,
// spec/client.md §14.4), or changes sent to a member that asked for them
// (reply, spec/groups.md §8.5).
type groupFollowUp struct {
	rebase bool
	lookup string
	reply  *groupSyncReply
}

// groupFollowUps runs fs in the background.
func (c *Client) groupFollowUps(fs []groupFollowUp) {
	if len(fs) == 0 {
		return
	}
	c.background(func() {
		for _, f := range fs {
			switch {
			case f.rebase:
				c.rebaseLost(c.ctx)
			case f.lookup != "":
				if _, err := c.lookup(c.ctx, f.lookup, true); err != nil && c.ctx.Err() == nil {
					c.log.Info("client: looking a group member up again", "err", err)
				}
			case f.reply != nil:
				c.sendGroupSyncReply(c.ctx, f.reply)
			}
		}
	})
}

// rebaseLost signs again, on top of the winner, what is left of each stored
// change of this account that lost a race (spec/groups.md §6.3), and sends
// it; the stored change is deleted in the transaction that queues the new
// one, or when nothing is left of it. One that cannot be sent now stays
// stored and is tried again after the next connection.
func (c *Client) rebaseLost(ctx context.Context) {
	c.rebaseMu.Lock()
	defer c.rebaseMu.Unlock()
	var lost []localstore.GroupLost
	if err := c.store.View(ctx, func(tx localstore.Tx) error {
		var err error
		lost, err = tx.GroupLostChanges()
		return err
	}); err != nil {
		if ctx.Err() == nil {
			c.log.Warn("client: reading the lost group changes", "err", err)
		}
		return
	}
	for _, l := range lost {
		forget := func(tx localstore.Tx) error {
			if err := tx.DeleteGroupLost(l.Group, l.ChangeID); err != nil && !errors.Is(err, localstore.ErrNotFound) {
				return err
			}
			return nil
		}
		gid := GroupID(l.Group)
		var in group.Intent
		ok := false
		err := c.store.View(ctx, func(tx localstore.Tx) error {
			ch, err := group.ParseChange(l.Change)
			if err != nil {
				return nil // dropped below
			}
			tr, err := loadGroupTx(tx, gid)
			if errors.Is(err, ErrUnknownGroup) {
				return nil
			}
			if err != nil {
				return err
			}
			in, ok = group.Rebase(ch, tr.State())
			return nil
		})
		if err == nil && !ok {
			// Nothing left of it (or its group is gone).
			err = c.store.Update(ctx, forget)
		} else if err == nil {
			err = c.changeGroupWith(ctx, gid, in, forget)
			if errors.Is(err, ErrGroupRefused) {
				c.emit(Event{Kind: EventGroupRefused, Handle: c.Handle(), Group: gid, Err: fmt.Errorf("rebasing this account's %s: %w", in.Kind, err)})
				err = c.store.Update(ctx, forget)
			}
		}
		if err != nil {
			if ctx.Err() == nil {
				c.log.Info("client: a lost group change not rebased yet", "err", err)
			}
			return
		}
	}
}

// applyGroupChange applies a received GroupChange in the receiving
// transaction (spec/groups.md §5, §6): to the group's tracker, or, for a
// group this device is not in yet, as the Create or the Add that makes it
// a member. It returns the events to report and what is left to rebase of
// this account's own changes that lost a race.
func (c *Client) applyGroupChange(tx localstore.Tx, id *identity, sender string, gc *contentpb.GroupChange, now time.Time, r *received) error {
	evs, fs, err := c.applyGroupChangeTx(tx, id, sender, gc, now, r)
	r.events = append(r.events, evs...)
	r.followUps = append(r.followUps, fs...)
	return err
}

func (c *Client) applyGroupChangeTx(tx localstore.Tx, id *identity, sender string, gc *contentpb.GroupChange, now time.Time, r *received) ([]Event, []groupFollowUp, error) {
	refused := func(gid GroupID, err error) []Event {
		return []Event{{Kind: EventGroupRefused, Handle: sender, Group: gid, Err: fmt.Errorf("%w: %w", ErrGroupRefused, err)}}
	}
	ch, err := group.ParseChange(gc.GetChange())
	if err != nil {
		return refused(GroupID{}, err), nil, nil
	}
	gid := GroupID(ch.Group)
	lookup := accountKeysTx(tx, id)
	tr, err := loadGroupTx(tx, gid)
	switch {
	case errors.Is(err, ErrUnknownGroup) && ch.Kind == group.KindCreate:
		st, err := group.Create(ch, lookup)
		if err != nil {
			return refused(gid, err), nil, nil
		}
		if !st.IsMember(id.handle) {
			return refused(gid, group.ErrNotMember), nil, nil
		}
		if tr, err = group.NewTracker(st); err != nil {
			return refused(gid, err), nil, nil
		}
		if err := c.putReceivedGroup(tx, id, gid, tr, now, r); err != nil {
			return nil, nil, err
		}
		return []Event{{Kind: EventGroupChanged, Handle: ch.Author, Group: gid, GroupChange: ch.Kind.String()}}, nil, nil
	case errors.Is(err, ErrUnknownGroup) && len(gc.GetState()) > 0:
		st, err := group.ParseState(gc.GetState())
		if err != nil {
			return refused(gid, err), nil, nil
		}
		if tr, err = group.Join(st, ch, id.handle, lookup); err != nil {
			return refused(gid, err), nil, nil
		}
		if err := c.putReceivedGroup(tx, id, gid, tr, now, r); err != nil {
			return nil, nil, err
		}
		return []Event{{Kind: EventGroupChanged, Handle: ch.Author, Group: gid, GroupChange: ch.Kind.String()}}, nil, nil
	case errors.Is(err, ErrUnknownGroup), errors.Is(err, ErrCorrupt), errors.Is(err, localstore.ErrCorrupt):
		// A stored group that does not open refuses the change (reported)
		// rather than the whole message, which would come back forever.
		return refused(gid, err), nil, nil
	case err != nil:
		return nil, nil, err
	}
	before := tr.State()
	res, err := tr.Add(ch, lookup)
	if res.Held && ch.Kind == group.KindAdd && slices.Contains(ch.Members, id.handle) && len(gc.GetState()) > 0 {
		// An Add of this account on a state this device never saw (it
		// joined on a branch that lost the race, spec/groups.md §6.3):
		// the new invitation's state replaces the old, as a first join
		// would take it.
		if st, perr := group.ParseState(gc.GetState()); perr == nil {
			if ntr, jerr := group.Join(st, ch, id.handle, lookup); jerr == nil {
				if err := c.putReceivedGroup(tx, id, gid, ntr, now, r); err != nil {
					return nil, nil, err
				}
				return []Event{{Kind: EventGroupChanged, Handle: ch.Author, Group: gid, GroupChange: ch.Kind.String()}}, nil, nil
			}
		}
	}
	if err != nil && !res.Held {
		return refused(gid, err), nil, nil
	}
	var evs []Event
	for _, a := range res.Applied {
		evs = append(evs, Event{Kind: EventGroupChanged, Handle: a.Author, Group: gid, GroupChange: a.Kind.String()})
	}
	for _, r := range res.Refused {
		evs = append(evs, Event{Kind: EventGroupRefused, Handle: r.Change.Author, Group: gid, Err: fmt.Errorf("%w: %w", ErrGroupRefused, r.Err)})
	}
	var rebase []groupFollowUp
	for _, lost := range append(res.Superseded, lostOwn(res, ch)...) {
		if lost.Author != id.handle {
			continue
		}
		// Stored with the state that lost it, signed again after the
		// commit: a crash in between does not lose it (spec/groups.md
		// §6.3).
		cid := lost.ChangeID()
		if err := tx.PutGroupLost(localstore.GroupLost{Group: gid[:], ChangeID: cid[:], Change: lost.Marshal()}); err != nil {
			return nil, nil, err
		}
		rebase = []groupFollowUp{{rebase: true}}
	}
	if err := groupMembersLeft(tx, gid, before, tr.State()); err != nil {
		return nil, nil, err
	}
	if err := c.putReceivedGroup(tx, id, gid, tr, now, r); err != nil {
		return nil, nil, err
	}
	return evs, rebase, nil
}

// putReceivedGroup stores the tracker of group gid after a received change,
// and the distributions held until its state made their senders members
// (spec/client.md §14.4).
func (c *Client) putReceivedGroup(tx localstore.Tx, id *identity, gid GroupID, tr *group.Tracker, now time.Time, r *received) error {
	if err := tx.PutGroup(gid[:], encodeTracker(tr), now); err != nil {
		return err
	}
	return c.releaseHeldKeys(tx, id, gid, tr.State(), now, r)
}

// lostOwn is ch if it lost its race as it arrived (a sent copy of this
// account's own change from another device, or a forwarded one).
func lostOwn(res group.Result, ch *group.Change) []*group.Change {
	if res.Lost {
		return []*group.Change{ch}
	}
	return nil
}
