package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sealpost/sealpost/client/content"
	"github.com/sealpost/sealpost/client/content/contentpb"
	"github.com/sealpost/sealpost/client/group"
	"github.com/sealpost/sealpost/client/internal/localstore"
)

// Catching up on missed changes (spec/groups.md §8.5): a member whose
// state a group message shows to be behind, or on another branch, asks
// that message's sender for the changes it lacks; the sender answers with
// them, each as an ordinary GroupChange, which the asker checks as any
// change (§5, §6: signed by their authors, so the sender cannot forge
// one, only withhold).

// groupSyncEvery bounds how often this device answers one member about one
// group: a member cannot make it send its window of changes in a loop.
const groupSyncEvery = 10 * time.Second

// groupSyncReply is the changes to send to a member that asked.
type groupSyncReply struct {
	to      string
	group   GroupID
	changes [][]byte
}

// askGroupSync asks handle for the changes of group gid after this
// device's current state, in the background.
func (c *Client) askGroupSync(gid GroupID, handle string) {
	c.background(func() {
		var (
			epoch uint64
			h     group.Hash
		)
		if err := c.store.View(c.ctx, func(tx localstore.Tx) error {
			tr, err := loadGroupTx(tx, gid)
			if err == nil {
				epoch, h = tr.State().Epoch, tr.Hash()
			}
			return err
		}); err != nil {
			return
		}
		c.sendGroupControl(c.ctx, handle, &contentpb.Content{Kind: &contentpb.Content_GroupSync{GroupSync: &contentpb.GroupSync{
			GroupId: gid[:], Epoch: epoch, StateHash: h[:],
		}}}, "asking a group member for changes")
	})
}

// sendGroupControl sends ct, a group control message (a sync request or
// answer, a snapshot), to handle's devices, or with handle this account's
// own to its other devices, queued without waiting for the relay; what
// fails is logged as doing what. It reports whether it was queued.
func (c *Client) sendGroupControl(ctx context.Context, handle string, ct *contentpb.Content, doing string) bool {
	cc := &content.Content{Content: ct}
	body, err := content.Marshal(cc)
	if err == nil {
		m := &outMessage{version: payloadVersion2, body: body, kind: cc.Kind(), noOwn: true}
		if handle == c.Handle() {
			m.noOwn, m.noPeer = false, true
		}
		_, err = c.send(ctx, handle, m, nil)
	}
	if err != nil && ctx.Err() == nil {
		c.log.Info("client: "+doing, "err", err)
	}
	return err == nil
}

// groupSyncRequest answers a member's GroupSync in the receiving
// transaction: the changes it lacks, to send after the commit, if it is a
// member of this device's current state or of the oldest one it keeps (a
// member removed since gets its removal), at most once per groupSyncEvery.
func (c *Client) groupSyncRequest(tx localstore.Tx, sender string, gs *contentpb.GroupSync, now time.Time) (*groupSyncReply, error) {
	gid := GroupID(gs.GetGroupId())
	tr, err := loadGroupTx(tx, gid)
	if err != nil {
		if isGroupRefusal(err) {
			return nil, nil
		}
		return nil, err
	}
	if !tr.State().IsMember(sender) && !tr.Base().IsMember(sender) {
		return nil, nil
	}
	changes := tr.ChangesAfter(gs.GetEpoch(), group.Hash(gs.GetStateHash()))
	if len(changes) == 0 {
		return nil, nil
	}
	k := outOfSyncKey{gid, "reply:" + sender}
	c.mu.Lock()
	if c.syncReplied == nil || len(c.syncReplied) > 1024 {
		c.syncReplied = map[outOfSyncKey]time.Time{}
	}
	last, ok := c.syncReplied[k]
	if ok && now.Sub(last) < groupSyncEvery {
		c.mu.Unlock()
		return nil, nil
	}
	c.syncReplied[k] = now
	c.mu.Unlock()
	r := &groupSyncReply{to: sender, group: gid}
	for _, ch := range changes {
		r.changes = append(r.changes, ch.Marshal())
	}
	return r, nil
}

// sendGroupSyncReply sends each change of r to the member that asked, as a
// GroupChange of its own, oldest first.
func (c *Client) sendGroupSyncReply(ctx context.Context, r *groupSyncReply) {
	for _, ch := range r.changes {
		ct := &contentpb.Content{Kind: &contentpb.Content_GroupChange{GroupChange: &contentpb.GroupChange{Change: ch}}}
		if !c.sendGroupControl(ctx, r.to, ct, "sending group changes a member asked for") {
			return
		}
	}
}

// sendGroupSnapshots gives this account's other devices every group this
// account is in, as this device holds it (spec/groups.md §8.6): after it
// approved a device, which knows no group yet. A device that holds a group
// at that epoch or later keeps its own.
func (c *Client) sendGroupSnapshots(ctx context.Context) {
	id, err := c.registered()
	if err != nil {
		return
	}
	var states []*group.State
	if err := c.store.View(ctx, func(tx localstore.Tx) error {
		var err error
		states, err = memberGroups(tx, id.handle, false)
		return err
	}); err != nil {
		return
	}
	for _, st := range states {
		ct := &contentpb.Content{Kind: &contentpb.Content_GroupSnapshot{GroupSnapshot: &contentpb.GroupSnapshot{GroupId: st.ID[:], State: st.Marshal()}}}
		if !c.sendGroupControl(ctx, id.handle, ct, "giving this account's devices its groups") {
			return
		}
	}
}

// memberGroups returns the current state of every stored group handle is
// a member of. A group whose tracker does not open fails it with strict,
// else is left out (reported when the group is used).
func memberGroups(tx localstore.Tx, handle string, strict bool) ([]*group.State, error) {
	ids, err := tx.GroupIDs()
	if err != nil {
		return nil, err
	}
	var out []*group.State
	for _, raw := range ids {
		tr, err := loadGroupTx(tx, GroupID(raw))
		if err != nil {
			if strict || !errors.Is(err, ErrCorrupt) {
				return nil, err
			}
			continue
		}
		if st := tr.State(); st.IsMember(handle) {
			out = append(out, st)
		}
	}
	return out, nil
}

// applyGroupSnapshot takes a group a device of this account gave
// (spec/groups.md §8.6) in the receiving transaction: only from this
// account, only a state this account is a member of, and only when this
// device holds no such group or an older epoch of it. It starts the
// group's tracker at that state.
func (c *Client) applyGroupSnapshot(tx localstore.Tx, id *identity, sender string, gs *contentpb.GroupSnapshot, now time.Time, r *received) error {
	gid := GroupID(gs.GetGroupId())
	refuse := func(err error) error {
		r.events = append(r.events, Event{Kind: EventGroupRefused, Handle: sender, Group: gid, Err: fmt.Errorf("%w: group snapshot: %w", ErrGroupRefused, err)})
		return nil
	}
	if sender != id.handle {
		return refuse(errors.New("from another account"))
	}
	st, err := group.ParseState(gs.GetState())
	if err != nil {
		return refuse(err)
	}
	if GroupID(st.ID) != gid {
		return refuse(errors.New("a state of another group"))
	}
	if !st.IsMember(id.handle) {
		return refuse(group.ErrNotMember)
	}
	tr, err := loadGroupTx(tx, gid)
	switch {
	case err == nil && tr.State().Epoch >= st.Epoch:
		return nil // this device's own is as new
	case err != nil && !isGroupRefusal(err):
		return err
	}
	if tr, err = group.NewTracker(st); err != nil {
		return refuse(err)
	}
	r.events = append(r.events, Event{Kind: EventGroupChanged, Handle: sender, Group: gid, GroupChange: "snapshot"})
	return c.putReceivedGroup(tx, id, gid, tr, now, r)
}
