package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/sealpost/sealpost/client/content"
	"github.com/sealpost/sealpost/client/content/contentpb"
	"github.com/sealpost/sealpost/client/group"
	"github.com/sealpost/sealpost/client/internal/killpoint"
	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/crypto/seal"
	"github.com/sealpost/sealpost/crypto/senderkey"
	"github.com/sealpost/sealpost/relay/relayclient"
	"github.com/sealpost/sealpost/relay/wire"
	"google.golang.org/protobuf/proto"
)

// Group messages (spec/groups.md §8.3, spec/client.md §14.4): encrypted
// once under this device's sending chain of the group (spec/senderkey.md),
// handed to the relay once with every recipient device's address
// (spec/relay.md §16), delivered to each as an ordinary envelope.

const (
	// groupBodyPrefix is the first byte of a group message body: never a
	// sealed envelope's version (spec/groups.md §8.3).
	groupBodyPrefix = 0x10
	// kindGroup is the payload kind of a group message (spec/groups.md
	// §8.3): its `to` is the sender's own handle.
	kindGroup = 0x03
)

// groupQuotaTries is how many times a group message is handed to the
// relay for the devices it answers with its quota (spec/relay.md §6.1)
// before they are reported as refused.
const groupQuotaTries = 4

// chainRotationPeriod is how long a sending chain is used at most
// (spec/groups.md §8.3): a matter of policy, bounding what a stolen chain
// state reads when nobody leaves the group.
const chainRotationPeriod = 7 * 24 * time.Hour

// errUnknownChain drops a group message under a chain this device does not
// hold (spec/groups.md §8.3: never held back).
var errUnknownChain = errors.New("client: a group message under a sending chain this device does not hold")

// SendGroupText sends text to every device of every member of group gid
// (and this account's other devices), encrypted once and uploaded once
// (spec/client.md §14.4). It returns once the relay has stored it for
// every device, or a *SendError naming the devices it refused.
func (c *Client) SendGroupText(ctx context.Context, gid GroupID, text string, opts ...SendOption) (MessageID, error) {
	return c.SendGroupContent(ctx, gid, &content.Content{Content: &contentpb.Content{
		Kind: &contentpb.Content_Text{Text: &contentpb.Text{Body: text}},
	}}, opts...)
}

// SendGroupContent sends a Content of kind text, app (application-defined)
// or a kind this version does not know to group gid, as SendGroupText
// does; WithReplyTo makes it a reply. Other kinds are ErrInvalidContent:
// a group message carries only these (spec/client.md §14.4).
func (c *Client) SendGroupContent(ctx context.Context, gid GroupID, m *content.Content, opts ...SendOption) (MessageID, error) {
	if m == nil || m.Content == nil {
		return MessageID{}, fmt.Errorf("%w: no content", ErrInvalidContent)
	}
	if k := m.Kind(); !groupKind(k) {
		return MessageID{}, fmt.Errorf("%w: a group message does not carry %v content", ErrInvalidContent, k)
	}
	var o sendOptions
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	// A copy: the group context is set on it.
	cp := &content.Content{Content: proto.Clone(m.Content).(*contentpb.Content)}
	if o.hasReply {
		cp.ReplyTo = &contentpb.ReplyTo{MessageId: o.replyTo[:], Sender: o.replySender}
	}
	return c.sendGroup(ctx, gid, cp, nil, nil)
}

// groupKind reports whether a group message may carry content of kind k
// (spec/client.md §14.4).
func groupKind(k content.Kind) bool {
	return k == content.KindText || k == content.KindApp || k == content.KindUnknown || k == content.KindAttachment
}

// padBlock lays pt out as a sealed envelope's message block is
// (spec/seal.md §3.2): u32 n ‖ pt ‖ zeros, to the block of the smallest
// bucket that holds it.
func padBlock(pt []byte) ([]byte, error) {
	size, err := seal.BucketSize(len(pt))
	if err != nil {
		return nil, err
	}
	b := make([]byte, size-seal.Overhead)
	binary.BigEndian.PutUint32(b, uint32(len(pt)))
	copy(b[4:], pt)
	return b, nil
}

// unpadBlock undoes padBlock, refusing what it would not make.
func unpadBlock(b []byte) ([]byte, error) {
	if len(b) < 4 {
		return nil, errBadPayload
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return nil, errBadPayload
	}
	for _, x := range b[4+n:] {
		if x != 0 {
			return nil, errBadPayload
		}
	}
	return b[4 : 4+n], nil
}

// sendGroup sends ct as a group message of gid.
// msgID, if not nil, is the message id (else a random one); apply, if not
// nil, runs in the transaction that queues the message.
func (c *Client) sendGroup(ctx context.Context, gid GroupID, ct *content.Content, given *MessageID, apply func(localstore.Tx) error) (MessageID, error) {
	ctx, id, done, err := c.beginRegistered(ctx)
	if err != nil {
		return MessageID{}, err
	}
	defer done()
	c.groupMu.Lock()
	defer c.groupMu.Unlock()
	st, own, row, err := c.groupSendView(ctx, gid)
	if err != nil {
		return MessageID{}, err
	}
	if !st.IsMember(id.handle) {
		return MessageID{}, fmt.Errorf("%w: %w: this account is not a member", ErrGroupRefused, group.ErrNotMember)
	}
	sh := st.Hash()
	ct.Group = &contentpb.GroupContext{GroupId: gid[:], Epoch: st.Epoch, StateHash: sh[:]}
	body, err := content.Marshal(ct)
	if err != nil {
		return MessageID{}, fmt.Errorf("%w: %w", ErrInvalidContent, err)
	}
	recips, err := c.groupRecipients(ctx, id, st, own)
	if err != nil {
		return MessageID{}, err
	}
	chain, err := c.ensureSendingChain(ctx, id, gid, st, recips, row)
	if err != nil {
		return MessageID{}, err
	}
	defer clear(chain)
	var msgID MessageID
	if given != nil {
		msgID = *given
	} else if _, err := rand.Read(msgID[:]); err != nil {
		return MessageID{}, err
	}
	p := payload{version: payloadVersion2, kind: kindGroup, id: msgID, sent: time.Now(), to: id.handle, body: body}
	pt, err := padBlock(p.marshal())
	if err != nil {
		return MessageID{}, fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	out := localstore.GroupOutgoing{MessageID: msgID[:], Recipients: recips, Created: time.Now()}
	answered := c.answeredGroupMessages()
	err = c.store.Update(ctx, func(tx localstore.Tx) error {
		// The messages the relay answered since the last one leave the
		// queue here: one transaction a message (spec/client.md §14.4).
		if err := deleteGroupOutgoing(tx, answered); err != nil {
			return err
		}
		if apply != nil {
			if err := apply(tx); err != nil {
				return err
			}
		}
		// The chain as stored: groupMu keeps other writers out.
		sc, err := senderkey.UnmarshalSendingChain(chain)
		if err != nil {
			return fmt.Errorf("%w: stored sending chain: %v", ErrCorrupt, err)
		}
		defer sc.Destroy()
		msg, err := sc.Encrypt(pt)
		if err != nil {
			return err
		}
		if err := tx.AdvanceGroupSend(gid[:], sc.Marshal()); err != nil {
			return err
		}
		if len(recips) == 0 {
			return nil
		}
		// Queued with the chain's new state: from here on it is not lost
		// (spec/client.md §14.4).
		out.Body = append([]byte{groupBodyPrefix}, msg...)
		return tx.PutGroupOutgoing(out)
	})
	clear(pt)
	if err != nil {
		return MessageID{}, storeError(err)
	}
	c.forgetAnswered(answered)
	if len(recips) == 0 {
		return msgID, nil
	}
	refused, err := c.sendGroupOutgoing(ctx, id, out)
	if err != nil {
		return msgID, fmt.Errorf("%w: %w", ErrQueued, err)
	}
	if len(refused) > 0 {
		return msgID, &SendError{ID: msgID, Refused: refused}
	}
	return msgID, nil
}

// sendGroupOutgoing hands a queued group message to the relay (split into
// shared sends of at most MaxSharedRecipients, each under a relay id fixed
// by the message id and its first recipient's place, so a retry is stored
// once) and, once every part is answered, takes it off the queue. It
// returns the devices the relay refused.
func (c *Client) sendGroupOutgoing(ctx context.Context, id *identity, o localstore.GroupOutgoing) ([]RefusedDevice, error) {
	c.mu.Lock()
	link := c.link
	c.mu.Unlock()
	if link == nil {
		return nil, ErrNotRegistered
	}
	msgID, ok := toMessageID(o.MessageID)
	if !ok {
		return nil, fmt.Errorf("%w: queued group message id", ErrCorrupt)
	}
	devs := make([]RefusedDevice, len(o.Recipients))
	for i, r := range o.Recipients {
		h, d, err := wire.ParseAddress(r)
		if err != nil {
			return nil, fmt.Errorf("%w: queued group message recipient: %v", ErrCorrupt, err)
		}
		devs[i] = RefusedDevice{Handle: h, Device: d}
	}
	var refused []RefusedDevice
	for start := 0; start < len(o.Recipients); start += wire.MaxSharedRecipients {
		part := make([]int, 0, wire.MaxSharedRecipients)
		for i := start; i < min(start+wire.MaxSharedRecipients, len(o.Recipients)); i++ {
			part = append(part, i)
		}
		// Devices the relay answers with its quota go again after the
		// wait it names, each time under a relay message id of their own
		// (fixed by the attempt, so a retry after a restart is
		// answered from the dedup record as the first was).
		for attempt := uint32(0); len(part) > 0; attempt++ {
			rid := relaySendID(msgID, id.handle, uint32(start)|attempt<<24)
			addrs, ds := make([][]byte, len(part)), make([]RefusedDevice, len(part))
			for j, i := range part {
				addrs[j], ds[j] = o.Recipients[i], devs[i]
			}
			var (
				res *wire.SendResult
				err error
			)
			if c.cfg.SendMode == SendAnonymous {
				res, err = c.sendSharedAnonymous(ctx, rid, o.Body, ds)
			} else {
				res, err = link.SendShared(ctx, rid, o.Body, addrs)
			}
			if err != nil {
				return nil, err
			}
			var again []int
			for j, st := range res.Statuses {
				switch {
				case j >= len(part) || st == wire.Status_STATUS_STORED:
				case st == wire.Status_STATUS_QUOTA && attempt+1 < groupQuotaTries:
					again = append(again, part[j])
				default:
					d := devs[part[j]]
					d.Reason = refusedReason(st)
					refused = append(refused, d)
				}
			}
			if len(again) > 0 {
				wait := min(max(time.Duration(res.RetryAfterMs)*time.Millisecond, 100*time.Millisecond), 30*time.Second)
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			part = again
		}
	}
	// Taken off the queue with the next group message, or at the next
	// connection: until then a restart sends it again under the same
	// relay message ids, which the relay answers from its dedup record.
	c.mu.Lock()
	if c.groupAnswered == nil {
		c.groupAnswered = map[MessageID]bool{}
	}
	c.groupAnswered[msgID] = true
	c.mu.Unlock()
	if len(refused) > 0 {
		c.log.Warn("client: the relay refused a group message for some devices", "devices", len(refused))
	}
	return refused, nil
}

// answeredGroupMessages returns the queued group messages the relay has
// answered.
func (c *Client) answeredGroupMessages() []MessageID {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]MessageID, 0, len(c.groupAnswered))
	for id := range c.groupAnswered {
		out = append(out, id)
	}
	return out
}

// forgetAnswered drops ids, deleted from the queue, from the answered set.
func (c *Client) forgetAnswered(ids []MessageID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		delete(c.groupAnswered, id)
	}
}

// deleteGroupOutgoing takes answered group messages off the queue.
func deleteGroupOutgoing(tx localstore.Tx, ids []MessageID) error {
	for _, id := range ids {
		if err := tx.DeleteGroupOutgoing(id[:]); err != nil && !errors.Is(err, localstore.ErrNotFound) {
			return err
		}
	}
	return nil
}

// flushGroupOutgoing sends the group messages still queued (after a
// restart or a lost connection), oldest first; it runs after each
// connection to the relay (spec/client.md §14.4).
func (c *Client) flushGroupOutgoing(ctx context.Context) {
	id, err := c.registered()
	if err != nil {
		return
	}
	var q []localstore.GroupOutgoing
	if err := c.store.View(ctx, func(tx localstore.Tx) error {
		var err error
		q, err = tx.GroupOutgoingQueue()
		return err
	}); err != nil {
		if ctx.Err() == nil {
			c.log.Warn("client: reading the group message queue", "err", err)
		}
		return
	}
	answered := c.answeredGroupMessages()
	if len(answered) > 0 {
		if err := c.store.Update(ctx, func(tx localstore.Tx) error { return deleteGroupOutgoing(tx, answered) }); err != nil {
			return
		}
		c.forgetAnswered(answered)
	}
	done := map[string]bool{}
	for _, id := range answered {
		done[string(id[:])] = true
	}
	for _, o := range q {
		if done[string(o.MessageID)] {
			continue
		}
		if _, err := c.sendGroupOutgoing(ctx, id, o); err != nil {
			if ctx.Err() == nil {
				c.log.Info("client: queued group message not sent yet", "err", err)
			}
			return
		}
	}
}

// rotateGroupChains makes and distributes the new sending chain due in each
// group this account is a member of (after one of its devices was
// revoked, spec/client.md §14.4).
func (c *Client) rotateGroupChains(ctx context.Context) {
	id, err := c.registered()
	if err != nil {
		return
	}
	var due []GroupID
	if err := c.store.View(ctx, func(tx localstore.Tx) error {
		ids, err := tx.GroupIDs()
		if err != nil {
			return err
		}
		for _, raw := range ids {
			if _, rotate, err := tx.GroupSend(raw); err == nil && rotate {
				due = append(due, GroupID(raw))
			} else if err != nil && !errors.Is(err, localstore.ErrNotFound) {
				return err
			}
		}
		return nil
	}); err != nil {
		c.log.Warn("client: reading the groups", "err", err)
		return
	}
	for _, gid := range due {
		c.groupMu.Lock()
		st, own, row, err := c.groupSendView(ctx, gid)
		if err == nil && st.IsMember(id.handle) {
			var recips [][]byte
			if recips, err = c.groupRecipients(ctx, id, st, own); err == nil {
				var chain []byte
				chain, err = c.ensureSendingChain(ctx, id, gid, st, recips, row)
				clear(chain)
			}
		}
		c.groupMu.Unlock()
		if err != nil && ctx.Err() == nil {
			// Made at the next group message instead.
			c.log.Info("client: new sending chain not distributed yet", "err", err)
		}
	}
}

// groupSendView reads, in one transaction, what a group message needs:
// group gid's current state, this account's devices, and this device's
// sending chain row of the group (nil if it has none).
func (c *Client) groupSendView(ctx context.Context, gid GroupID) (*group.State, map[uint32]localstore.OwnDevice, *localstore.GroupSendRow, error) {
	var (
		st  *group.State
		own map[uint32]localstore.OwnDevice
		row *localstore.GroupSendRow
	)
	err := c.store.View(ctx, func(tx localstore.Tx) error {
		var err error
		if st, err = c.groupStateTx(tx, gid); err != nil {
			return err
		}
		if own, err = tx.OwnDevices(); err != nil {
			return err
		}
		r, err := tx.GroupSendRow(gid[:])
		if err == nil {
			row = &r
		} else if !errors.Is(err, localstore.ErrNotFound) {
			return err
		}
		return nil
	})
	return st, own, row, storeError(err)
}

// groupRecipients returns the address of every active device of every
// member of st but this device, from the key sets as held (spec/client.md
// §14.4; §12.2's reasoning), in member order. This account's other devices
// are those this device created or approved and has not revoked, as for
// sent copies (§6.3): a device revoked a moment ago may still be active in
// the directory's latest epoch.
func (c *Client) groupRecipients(ctx context.Context, id *identity, st *group.State, own map[uint32]localstore.OwnDevice) ([][]byte, error) {
	// The list of the last message, while the state (the same decoded
	// state: groupStateTx), the key sets held and this account's devices
	// are the same, and no key set is old enough to look up again.
	key := recipientsKey{state: st, own: ownDevicesKey(own)}
	c.mu.Lock()
	key.dirGen = c.dirGen
	hit, ok := c.recipients[st.ID]
	c.mu.Unlock()
	if ok && hit.key == key && time.Since(hit.oldest) < dirTTL {
		return hit.recips, nil
	}
	var recips [][]byte
	oldest := time.Now()
	for _, h := range st.Handles() {
		d, err := c.lookupForGroup(ctx, h)
		if err != nil {
			return nil, err
		}
		if d.fetched.Before(oldest) {
			oldest = d.fetched
		}
		for _, dev := range d.entry.Active() {
			if h == id.handle {
				row, ok := own[uint32(dev.Certificate.Device)]
				if dev.Certificate.Device == id.device || !ok || row.State != localstore.OwnApproved || !row.Matches(dev.Certificate.Marshal()) {
					continue
				}
			}
			recips = append(recips, wire.FormatAddress(h, uint32(dev.Certificate.Device)))
		}
	}
	c.mu.Lock()
	if c.recipients == nil || len(c.recipients) >= 64 {
		c.recipients = map[group.ID]recipientsCache{}
	}
	if c.dirGen == key.dirGen {
		c.recipients[st.ID] = recipientsCache{key: key, recips: recips, oldest: oldest}
	}
	c.mu.Unlock()
	return recips, nil
}

// recipientsKey is what a group's recipient list depends on.
type recipientsKey struct {
	state  *group.State
	dirGen uint64 // Client.dirGen: the key sets held
	own    string // this account's devices, ownDevicesKey
}

// recipientsCache is a group's last recipient list.
type recipientsCache struct {
	key    recipientsKey
	recips [][]byte
	oldest time.Time // the oldest key set it was made from
}

// ownDevicesKey encodes this account's device records, in device order.
func ownDevicesKey(own map[uint32]localstore.OwnDevice) string {
	b := make([]byte, 0, len(own)*37)
	for _, d := range slices.Sorted(maps.Keys(own)) {
		r := own[d]
		b = binary.BigEndian.AppendUint32(b, d)
		b = append(b, byte(r.State))
		b = append(b, r.CertHash[:]...)
	}
	return string(b)
}

// ensureSendingChain makes sure every device of recips holds this device's
// sending chain of group gid before anything is sent under it (spec/client.md
// §14.4). With no chain, or a new one due (a member gone, a device
// revoked), it makes a new chain and distributes it to the devices of
// every other member and this account's other devices. Otherwise it
// distributes the chain as it is now to the devices of recips it was not
// distributed to (a member or a device added since), which can then read
// nothing sent before. Either way the distribution is queued in the
// transaction that stores the chain and the devices it went to, and
// waited for, so that each recipient's queue holds it before the next
// message under the chain.
func (c *Client) ensureSendingChain(ctx context.Context, id *identity, gid GroupID, st *group.State, recips [][]byte, row *localstore.GroupSendRow) ([]byte, error) {
	now := time.Now()
	have := row != nil
	// spec/groups.md §8.3: a chain lives 7 days at most.
	rotate := have && (row.Rotate || !row.Started.IsZero() && now.Sub(row.Started) >= chainRotationPeriod)
	var (
		sc     *senderkey.SendingChain
		result []byte // the chain the next message goes under
		err    error
		to     []string // the accounts the distribution goes to
		save   func(tx localstore.Tx, _ MessageID, _ time.Time) error
	)
	if have && !rotate {
		held := c.sentToSet(gid, row)
		missing := map[string]bool{}
		for _, a := range recips {
			if !held[string(a)] {
				h, _, err := wire.ParseAddress(a)
				if err != nil {
					return nil, err
				}
				missing[h] = true
			}
		}
		if len(missing) == 0 {
			return row.Chain, nil
		}
		if sc, err = senderkey.UnmarshalSendingChain(row.Chain); err != nil {
			return nil, fmt.Errorf("%w: stored sending chain: %v", ErrCorrupt, err)
		}
		to = slices.Sorted(maps.Keys(missing))
		all := slices.Clip(row.SentTo)
		for _, a := range recips {
			if !held[string(a)] {
				all = append(all, a)
			}
		}
		save = func(tx localstore.Tx, _ MessageID, _ time.Time) error { return tx.SetGroupSentTo(gid[:], all) }
		result = row.Chain
	} else {
		if sc, err = senderkey.NewSendingChain(rand.Reader, senderkey.GroupID(gid)); err != nil {
			return nil, err
		}
		to = st.Handles()
		result = sc.Marshal()
		save = func(tx localstore.Tx, _ MessageID, _ time.Time) error {
			return tx.StartGroupChain(gid[:], result, recips, now)
		}
	}
	defer sc.Destroy()
	d := sc.Distribution()
	defer d.Destroy()
	body, err := content.Marshal(&content.Content{Content: &contentpb.Content{Kind: &contentpb.Content_SenderKey{SenderKey: &contentpb.SenderKeyDistribution{
		GroupId: gid[:], Distribution: d.Marshal(),
	}}}})
	if err != nil {
		return nil, err
	}
	m := &outMessage{version: payloadVersion2, body: body, kind: content.KindSenderKey, wait: true, apply: save}
	own := slices.Contains(to, id.handle)
	to = slices.DeleteFunc(to, func(h string) bool { return h == id.handle })
	first := id.handle
	switch {
	case len(to) > 0:
		first, m.others = to[0], to[1:]
		m.noOwn = have && !rotate && !own
	default:
		m.noPeer = true
	}
	_, err = c.send(ctx, first, m, nil)
	if errors.Is(err, errNoTargets) && len(to) == 0 {
		err = storeError(c.store.Update(ctx, func(tx localstore.Tx) error { return save(tx, MessageID{}, time.Now()) }))
	}
	if err != nil {
		clear(result)
		return nil, err
	}
	c.forgetSentToSet(gid)
	return result, nil
}

// sentToSet returns the set of the device addresses row's chain was
// distributed to, from a cache keyed by their stored encoding.
func (c *Client) sentToSet(gid GroupID, row *localstore.GroupSendRow) map[string]bool {
	c.mu.Lock()
	hit, ok := c.sentToSets[gid]
	c.mu.Unlock()
	if ok && bytes.Equal(hit.raw, row.SentToRaw) {
		return hit.set
	}
	set := make(map[string]bool, len(row.SentTo))
	for _, a := range row.SentTo {
		set[string(a)] = true
	}
	c.mu.Lock()
	if c.sentToSets == nil || len(c.sentToSets) >= 64 {
		c.sentToSets = map[GroupID]sentToCache{}
	}
	c.sentToSets[gid] = sentToCache{raw: row.SentToRaw, set: set}
	c.mu.Unlock()
	return set
}

// sentToCache is a chain's distribution list and its set.
type sentToCache struct {
	raw []byte
	set map[string]bool
}

// forgetSentToSet drops group gid's cached distribution set.
func (c *Client) forgetSentToSet(gid GroupID) {
	c.mu.Lock()
	delete(c.sentToSets, gid)
	c.mu.Unlock()
}

// applySenderKey stores a sending chain another member device distributed
// (spec/groups.md §8.1), bound to that device; a chain id already held is
// kept. One from a device whose account is not a member of the group's
// current state, or of a group this device does not hold, is held until a
// change makes it one (spec/client.md §14.4: the relay may deliver it
// before that change). It reports whether it stored a new chain.
func (c *Client) applySenderKey(tx localstore.Tx, id *identity, sender string, device uint32, sk *contentpb.SenderKeyDistribution, now time.Time, r *received) (bool, error) {
	gid := GroupID(sk.GetGroupId())
	d, err := senderkey.ParseDistribution(sk.GetDistribution())
	if err != nil {
		return false, err
	}
	defer d.Destroy()
	if d.GroupID != senderkey.GroupID(gid) {
		return false, fmt.Errorf("%w: a distribution of another group", errUnknownChain)
	}
	tr, err := loadGroupTx(tx, gid)
	if err != nil && !errors.Is(err, ErrUnknownGroup) {
		return false, err
	}
	if err != nil || !tr.State().IsMember(sender) {
		return false, tx.PutGroupHeldKey(gid[:], localstore.GroupHeldKey{Handle: sender, Device: device, Distribution: sk.GetDistribution(), Received: now})
	}
	return c.storeReceivingChain(tx, id, gid, sender, device, d, now, r)
}

// storeReceivingChain stores the receiving chain d makes, bound to a
// device, unless its chain id is held already, and opens the group
// messages held for it (into r); it reports whether it stored it.
func (c *Client) storeReceivingChain(tx localstore.Tx, id *identity, gid GroupID, sender string, device uint32, d *senderkey.Distribution, now time.Time, r *received) (bool, error) {
	if _, err := tx.GroupRecv(gid[:], d.ChainID[:]); err == nil {
		return false, nil
	} else if !errors.Is(err, localstore.ErrNotFound) {
		return false, err
	}
	rc, err := senderkey.NewReceivingChain(d)
	if err != nil {
		return false, err
	}
	defer rc.Destroy()
	if err := tx.PutGroupRecv(gid[:], d.ChainID[:], localstore.GroupRecv{Handle: sender, Device: device, Chain: rc.Marshal()}); err != nil {
		return false, err
	}
	return true, c.releaseHeldMsgs(tx, id, gid, d.ChainID[:], now, r)
}

// releaseHeldKeys stores the held distributions of group gid whose sender
// the state st makes a member (spec/client.md §14.4), in the transaction
// that stores st, with the group messages held for them (into r); what
// does not parse is dropped.
func (c *Client) releaseHeldKeys(tx localstore.Tx, id *identity, gid GroupID, st *group.State, now time.Time, r *received) error {
	held, err := tx.GroupHeldKeys(gid[:])
	if err != nil {
		return err
	}
	for _, k := range held {
		if !st.IsMember(k.Handle) {
			continue
		}
		if err := tx.DeleteGroupHeldKey(gid[:], k.Handle, k.Device); err != nil {
			return err
		}
		d, err := senderkey.ParseDistribution(k.Distribution)
		if err != nil {
			continue
		}
		_, err = c.storeReceivingChain(tx, id, gid, k.Handle, k.Device, d, now, r)
		d.Destroy()
		if err != nil {
			return err
		}
	}
	return nil
}

// receiveGroup processes a group message body (first byte 0x10): decrypted
// with the receiving chain it names, checked against the device the chain
// is bound to and the group's membership, stored in the inbox with the
// chain's new state in one transaction (spec/groups.md §8.3). One under a
// chain this device does not hold yet is held until its distribution
// arrives (§8.3); what does not pass is dropped and reported, the chain
// unchanged.
func (c *Client) receiveGroup(ctx context.Context, id *identity, envID, env []byte) ([]*localstore.InboxMessage, error) {
	msg := env[1:]
	hdr, err := senderkey.ParseHeader(msg)
	if err != nil {
		return nil, c.drop(ctx, envID, "", 0, err)
	}
	var (
		o       groupOpened
		dropped int // held messages dropped past the bound
	)
	now := time.Now()
	err = c.store.Update(ctx, func(tx localstore.Tx) error {
		var err error
		dropped = 0
		if o, err = c.openGroupMessage(tx, id, envID, msg, hdr, now); err != nil || !o.unknownChain {
			return err
		}
		// Its distribution may come later (spec/groups.md §8.3): held.
		o.dropErr = nil
		if dropped, err = tx.PutGroupHeldMsg(localstore.GroupHeldMsg{EnvID: envID, Group: hdr.GroupID[:], ChainID: hdr.ChainID[:], Body: msg, Received: now}); err != nil {
			return err
		}
		_, err = tx.MarkProcessed(envID, now)
		return err
	})
	if err != nil {
		return nil, storeError(err)
	}
	for range dropped {
		c.emit(Event{Kind: EventEnvelopeDropped, Err: fmt.Errorf("%w: held too long or too many held", errUnknownChain)})
	}
	if o.dropErr != nil {
		c.emit(Event{Kind: EventEnvelopeDropped, Handle: o.sender.Handle, Device: o.sender.Device, Err: o.dropErr})
		return nil, nil
	}
	if o.sync != nil {
		c.reportOutOfSync(GroupID(hdr.GroupID), o.sender.Handle, o.sender.Device, o.sync)
	}
	if o.out == nil {
		return nil, nil
	}
	return []*localstore.InboxMessage{o.out}, nil
}

// groupOpened is what opening a group message gave.
type groupOpened struct {
	out          *localstore.InboxMessage // stored in the inbox, to hand over
	sender       localstore.GroupRecv     // the device its chain is bound to
	dropErr      error                    // why it was dropped
	unknownChain bool                     // dropped: no such chain (yet)
	sync         error                    // how the sender's state disagrees with this device's
}

// openGroupMessage opens group message msg (its header hdr) of envelope
// envID in tx: the chain's new state, the envelope and the message id
// processed, the inbox (spec/client.md §14.4). A message it refuses is
// marked processed and its reason returned in dropErr.
func (c *Client) openGroupMessage(tx localstore.Tx, id *identity, envID, msg []byte, hdr senderkey.Header, now time.Time) (groupOpened, error) {
	var o groupOpened
	drop := func(err error) (groupOpened, error) {
		o.dropErr = err
		_, err = tx.MarkProcessed(envID, now)
		return o, err
	}
	r, err := tx.GroupRecv(hdr.GroupID[:], hdr.ChainID[:])
	if errors.Is(err, localstore.ErrNotFound) {
		o.unknownChain = true
		return drop(errUnknownChain)
	}
	if err != nil {
		return o, err
	}
	o.sender = r
	rc, err := senderkey.UnmarshalReceivingChain(r.Chain)
	if err != nil {
		return o, fmt.Errorf("%w: stored receiving chain: %v", ErrCorrupt, err)
	}
	defer rc.Destroy()
	block, err := rc.Decrypt(msg)
	if err != nil {
		return drop(err)
	}
	defer clear(block)
	pt, err := unpadBlock(block)
	if err != nil {
		return drop(err)
	}
	p, err := parseGroupPayload(pt)
	if err != nil {
		return drop(err)
	}
	if !groupKind(p.content.Kind()) {
		return drop(fmt.Errorf("%w: a group message of %v content", errBadPayload, p.content.Kind()))
	}
	gc := p.content.GetGroup()
	if p.to != r.Handle || gc == nil || GroupID(gc.GetGroupId()) != GroupID(hdr.GroupID) {
		// Not from the device the chain was distributed by, or not of
		// the group its header names.
		return drop(fmt.Errorf("%w: a group message whose sender or group is not its chain's", errBadPayload))
	}
	tr, err := loadGroupTx(tx, GroupID(hdr.GroupID))
	if err != nil {
		return drop(err)
	}
	if s := tr.State(); !s.IsMember(r.Handle) || !s.IsMember(id.handle) {
		return drop(fmt.Errorf("%w: %s or this account is not a member", group.ErrNotMember, r.Handle))
	}
	if h := gc.GetStateHash(); len(h) == len(group.Hash{}) {
		o.sync = syncCheck(tr, gc.GetEpoch(), group.Hash(h))
	}
	rc.ExpireSkipped(now)
	if err := tx.PutGroupRecv(hdr.GroupID[:], hdr.ChainID[:], localstore.GroupRecv{Handle: r.Handle, Device: r.Device, Chain: rc.Marshal()}); err != nil {
		return o, err
	}
	if _, err := tx.MarkProcessed(envID, now); err != nil {
		return o, err
	}
	if fresh, err := tx.MarkProcessed(seenID(r.Handle, p.id), now); err != nil || !fresh {
		return o, err
	}
	if r.Handle == id.handle {
		// Devices.LastSeen (spec/client.md §17.4).
		if err := tx.SeeDevice(r.Device, p.sent); err != nil {
			return o, err
		}
	}
	m := localstore.InboxMessage{ID: envID, Sender: r.Handle, SenderDevice: r.Device, Time: now, Plaintext: append([]byte(nil), pt...)}
	if _, err := tx.PutInbox(m); err != nil {
		return o, err
	}
	killpoint.Reach(killpoint.ReceiveBeforeCommit)
	o.out = &m
	return o, nil
}

// releaseHeldMsgs opens, in tx, the group messages held for chain chainID
// of group gid, now that this device holds it (spec/groups.md §8.3), and
// adds them (stored in the inbox) and the reports of those it refused to
// r.
func (c *Client) releaseHeldMsgs(tx localstore.Tx, id *identity, gid GroupID, chainID []byte, now time.Time, r *received) error {
	held, err := tx.GroupHeldMsgs(gid[:], chainID)
	if err != nil {
		return err
	}
	for _, h := range held {
		if err := tx.DeleteGroupHeldMsg(h.EnvID); err != nil {
			return err
		}
		hdr, err := senderkey.ParseHeader(h.Body)
		if err != nil {
			continue // held only after it parsed
		}
		o, err := c.openGroupMessage(tx, id, h.EnvID, h.Body, hdr, now)
		if err != nil {
			return err
		}
		if o.dropErr != nil {
			r.events = append(r.events, Event{Kind: EventEnvelopeDropped, Handle: o.sender.Handle, Device: o.sender.Device, Err: o.dropErr})
		}
		if o.out != nil {
			r.released = append(r.released, o.out)
		}
	}
	return nil
}

// syncCheck compares the state a group message names with tr's
// (spec/groups.md §8.4): nil when they agree (the same state, or one the
// sender had not moved past yet), else why not.
func syncCheck(tr *group.Tracker, epoch uint64, h group.Hash) error {
	switch tr.Compare(epoch, h) {
	case group.Ahead:
		return fmt.Errorf("%w: the sender is at epoch %d, this device at %d: changes have not arrived", ErrGroupOutOfSync, epoch, tr.State().Epoch)
	case group.Forked:
		return fmt.Errorf("%w: the sender holds another state at epoch %d", ErrGroupOutOfSync, epoch)
	}
	return nil
}

// outOfSyncKey is one report of EventGroupOutOfSync.
type outOfSyncKey struct {
	group GroupID
	why   string
}

// reportOutOfSync emits EventGroupOutOfSync once per group and reason, and
// then asks the sender for the changes this device lacks (spec/groups.md
// §8.5).
func (c *Client) reportOutOfSync(gid GroupID, handle string, device uint32, err error) {
	k := outOfSyncKey{gid, err.Error()}
	c.mu.Lock()
	if c.outOfSync == nil || len(c.outOfSync) > 1024 {
		c.outOfSync = map[outOfSyncKey]bool{}
	}
	seen := c.outOfSync[k]
	c.outOfSync[k] = true
	c.mu.Unlock()
	if !seen {
		c.emit(Event{Kind: EventGroupOutOfSync, Handle: handle, Device: device, Group: gid, Err: err})
		c.askGroupSync(gid, handle)
	}
}

// parseGroupPayload parses the payload of a group message: version 2,
// kind 0x03 (spec/groups.md §8.3), the rest as spec/client.md §2.
func parseGroupPayload(b []byte) (*payload, error) {
	if len(b) < payloadHeaderSize || b[0] != payloadVersion2 || b[1] != kindGroup {
		return nil, errBadPayload
	}
	c := append([]byte(nil), b...)
	c[1] = kindMessage // parsed as a message, then marked
	p, err := parsePayload(c)
	if err != nil {
		return nil, err
	}
	p.kind = kindGroup
	return p, nil
}

// parseAnyPayload parses a stored inbox payload: a group message's, or a
// one-to-one one.
func parseAnyPayload(b []byte) (*payload, error) {
	if len(b) > 1 && b[1] == kindGroup {
		return parseGroupPayload(b)
	}
	return parsePayload(b)
}

// groupMembersLeft marks a new sending chain due for group gid when the
// change removed a member (spec/groups.md §8.3), and forgets the
// receiving chains of the accounts that left.
func groupMembersLeft(tx localstore.Tx, gid GroupID, before, after *group.State) error {
	var gone []string
	for _, h := range before.Handles() {
		if !after.IsMember(h) {
			gone = append(gone, h)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	if err := tx.MarkGroupRotate(gid[:]); err != nil {
		return err
	}
	for _, h := range gone {
		if err := tx.DeleteGroupRecvOf(gid[:], h); err != nil {
			return err
		}
	}
	return nil
}

// isGroupRefusal tells a refusal of what a member sent (reported, the
// message dropped) from a failure of the store (the transaction fails).
func isGroupRefusal(err error) bool {
	return errors.Is(err, errUnknownChain) || errors.Is(err, ErrUnknownGroup) || errors.Is(err, ErrCorrupt) ||
		errors.Is(err, senderkey.ErrMalformed) || errors.Is(err, senderkey.ErrInvalidState)
}

// sendSharedAnonymous hands a shared send to the relay on the anonymous
// connection (spec/client.md §13, spec/relay.md §16.1): one token for all
// its recipients, each with its device's access key if it gave one. A
// connection that fails before the answer is replaced and the same token
// sent again; a token the relay refuses is replaced.
func (c *Client) sendSharedAnonymous(ctx context.Context, rid [wire.MessageIDSize]byte, body []byte, devs []RefusedDevice) (*wire.SendResult, error) {
	items := make([]*wire.Item, len(devs))
	if err := c.store.View(ctx, func(tx localstore.Tx) error {
		for i, d := range devs {
			items[i] = &wire.Item{Recipient: wire.FormatAddress(d.Handle, d.Device)}
			k, err := tx.PeerAccessKey(d.Handle, d.Device)
			if err == nil {
				items[i].AccessKey = k
			} else if !errors.Is(err, localstore.ErrNotFound) {
				return err
			}
		}
		return nil
	}); err != nil {
		return nil, storeError(err)
	}
	token, err := c.takeToken(ctx)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range anonSendTries {
		conn, err := c.anonConn(ctx)
		if err == nil {
			var r *wire.SendResult
			if r, err = conn.SendSharedAnonymous(ctx, rid, token, body, items); err == nil {
				c.anonUsed(conn)
				return r, nil
			}
			c.dropAnonConn(false)
			var re *relayclient.RemoteError
			if errors.As(err, &re) && (re.Code == wire.ErrorCode_ERROR_CODE_SEND_TOKEN_STALE || re.Code == wire.ErrorCode_ERROR_CODE_SEND_TOKEN_INVALID) {
				if token, err = c.takeToken(ctx); err != nil {
					return nil, err
				}
			}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		lastErr = err
	}
	return nil, lastErr
}

// takeToken takes a usable token from the wallet, refilling it first if
// it is empty (spec/client.md §13.2).
func (c *Client) takeToken(ctx context.Context) ([]byte, error) {
	for try := 0; ; try++ {
		var (
			tok  []byte
			left int
		)
		now := time.Now()
		err := c.store.Update(ctx, func(tx localstore.Tx) error {
			var err error
			if _, tok, err = tx.TakeSendToken(minTokenEpoch(now)); err != nil {
				return err
			}
			left, err = tx.SendTokenCount(minTokenEpoch(now))
			return err
		})
		if errors.Is(err, localstore.ErrNotFound) && try == 0 {
			if err := c.refillSendTokens(ctx); err != nil {
				return nil, err
			}
			continue
		}
		if errors.Is(err, localstore.ErrNotFound) {
			return nil, ErrNoSendTokens
		}
		if err != nil {
			return nil, storeError(err)
		}
		c.kickRefill(left)
		return tok, nil
	}
}

// groupDeviceRevoked handles a device of handle revoked, seen in its key
// set (spec/groups.md §8.3): in every group handle is a member of, this
// device's sending chain is due for a new one, kept from the revoked
// device, and the revoked device's receiving chains are deleted. (A device
// added needs nothing here: the next group message distributes the chain
// as it is then to the devices it was not distributed to.)
func groupDeviceRevoked(tx localstore.Tx, handle string, revoked uint32) error {
	ids, err := tx.GroupIDs()
	if err != nil {
		return err
	}
	for _, raw := range ids {
		tr, err := loadGroupTx(tx, GroupID(raw))
		if err != nil {
			if errors.Is(err, ErrCorrupt) {
				continue // reported when the group is used
			}
			return err
		}
		if !tr.State().IsMember(handle) {
			continue
		}
		if err := tx.MarkGroupRotate(raw); err != nil {
			return err
		}
		if err := tx.DeleteGroupRecvOfDevice(raw, handle, revoked); err != nil {
			return err
		}
	}
	return nil
}
