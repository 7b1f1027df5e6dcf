package localstore

import "time"

// Tx is one transaction on the store, valid only inside the function given
// to View or Update. Its methods must not be called after that function
// returns, nor from other goroutines. Each engine (SQLite, kv) implements
// it; the methods are grouped by the file of the SQLite engine that
// implements them.
type Tx interface {
	// access.go

	// PutAccess stores this device's access state.
	PutAccess(a Access) error
	// Access returns this device's access state, or ErrNotFound.
	Access() (Access, error)
	// PutPeerAccessKey records the access key a device of another account
	// sent, replacing the one recorded.
	PutPeerAccessKey(handle string, device uint32, key []byte, received time.Time) error
	// PeerAccessKey returns the access key recorded for a device of another
	// account, or ErrNotFound.
	PeerAccessKey(handle string, device uint32) ([]byte, error)
	// Block records handle as blocked (spec/client.md §13.7); blocking an
	// account blocked already keeps the first time.
	Block(handle string, at time.Time) error
	// Unblock removes handle from the blocked accounts; ErrNotFound if it was
	// not blocked.
	Unblock(handle string) error
	// Blocked reports whether handle is blocked.
	Blocked(handle string) (bool, error)
	// BlockedHandles returns the blocked accounts, in order.
	BlockedHandles() ([]string, error)
	// PutSealKey records the last-resort KEM prekey encoding a device of
	// another account has, as fetched at fetched (spec/client-store.md §4.23).
	PutSealKey(handle string, device uint32, prekey []byte, fetched time.Time) error
	// SealKey returns the recorded prekey encoding of a device and when it was
	// fetched, or ErrNotFound.
	SealKey(handle string, device uint32) ([]byte, time.Time, error)
	// MarkAccessGiven records that this device's access key went to handle
	// (spec/client-store.md §4.24).
	MarkAccessGiven(handle string, at time.Time) error
	// AccessGiven returns the accounts this device's access key went to, in
	// order.
	AccessGiven() ([]string, error)

	// attachments.go

	// PutAttachUpload stores a new upload, or replaces the row with its id.
	PutAttachUpload(u AttachUpload) error
	// SetAttachUploadProgress records the blob service's upload id and how
	// much of it is committed; ErrNotFound if the row is gone.
	SetAttachUploadProgress(id, uploadID []byte, uploaded int64) error
	// FailAttachUpload marks an upload stopped for good with the reason.
	FailAttachUpload(id []byte, reason string) error
	// DeleteAttachUpload deletes an upload's row; ErrNotFound if there is none.
	DeleteAttachUpload(id []byte) error
	// AttachUploadRow returns one upload, or ErrNotFound.
	AttachUploadRow(id []byte) (AttachUpload, error)
	// AttachUploads returns every upload, oldest first.
	AttachUploads() ([]AttachUpload, error)
	// PutAttachDownload records a download's spool file unless the blob has
	// one already; it returns the row as stored.
	PutAttachDownload(d AttachDownload) (AttachDownload, error)
	// DeleteAttachDownload deletes a download's row (no error when absent).
	DeleteAttachDownload(blobID []byte) error
	// AttachDownloadsBefore returns the downloads started before t.
	AttachDownloadsBefore(t time.Time) ([]AttachDownload, error)
	// SpoolFiles returns the spool file names the store refers to.
	SpoolFiles() (map[string]bool, error)

	// contacts.go

	// PutContact stores c, replacing the contact with the same handle.
	PutContact(c Contact) error
	// Contact returns the contact with handle, or ErrNotFound.
	Contact(handle string) (Contact, error)
	// Contacts returns all contacts in handle order.
	Contacts() ([]Contact, error)
	// DeleteContact deletes the contact; ErrNotFound if there is none.
	DeleteContact(handle string) error
	// PutCheckpoint stores the pinned signed checkpoint (its note text),
	// replacing the previous one. The caller checks consistency first.
	PutCheckpoint(text []byte, updated time.Time) error
	// Checkpoint returns the pinned checkpoint text and when it was stored, or
	// ErrNotFound.
	Checkpoint() ([]byte, time.Time, error)
	// PutKeySet stores the newest verified key set (a transparency log entry)
	// of handle, replacing the one stored (spec/client-store.md §4.10).
	PutKeySet(handle string, entry []byte) error
	// KeySet returns the stored key set of handle, or ErrNotFound.
	KeySet(handle string) ([]byte, error)

	// devices.go

	// SetDeviceName records name for device if changed is later than the time
	// of the name recorded (of equal times, the greater name wins, so that
	// every device ends with the same one). It reports whether anything
	// changed; the same name again changes nothing.
	SetDeviceName(device uint32, name string, changed time.Time) (bool, error)
	// SeeDevice records that a message sent at sent came from device: its
	// last-seen time becomes sent if that is later.
	SeeDevice(device uint32, sent time.Time) error
	// DeviceInfos returns what is recorded of this account's devices, by id.
	DeviceInfos() (map[uint32]DeviceInfo, error)
	// PutOwnDeviceHash is PutOwnDevice with the certificate's SHA-256 instead
	// of the certificate: what a linking snapshot carries (spec/client.md
	// §17.1).
	PutOwnDeviceHash(device uint32, state OwnDeviceState, certHash [32]byte) error
	// ConversationTimers returns every conversation's timer setting, by peer.
	ConversationTimers() ([]ConversationTimerRow, error)
	// HistorySince returns up to limit messages, of every conversation, sent
	// at or after since and stored after seq, in storage order: a way to page
	// through the recent history (spec/client.md §17.1).
	HistorySince(since time.Time, seq int64, limit int) ([]HistoryRow, error)
	// PutMessageDeviceState records the receipt state of a sent message at a
	// device as m says, replacing what was recorded.
	PutMessageDeviceState(m MessageDevice) error

	// groups.go

	// PutGroup stores the encoded tracker of group id (spec/client-store.md
	// §4.25), replacing the one stored.
	PutGroup(id, tracker []byte, updated time.Time) error
	// Group returns the encoded tracker of group id, or ErrNotFound.
	Group(id []byte) ([]byte, error)
	// GroupSealed returns the stored (sealed) tracker of group id, or
	// ErrNotFound: a cache key that costs no decryption. OpenGroup opens it.
	GroupSealed(id []byte) ([]byte, error)
	// OpenGroup opens a tracker GroupSealed returned for group id.
	OpenGroup(id, sealed []byte) ([]byte, error)
	// GroupIDs returns the ids of the stored groups, in byte order.
	GroupIDs() ([][]byte, error)
	// PutGroupSend stores this device's sending chain of group id.
	PutGroupSend(id, chain []byte, rotate bool) error
	// StartGroupChain stores a new sending chain of group id, made at started
	// and distributed to addrs, replacing the one stored
	// (spec/client-store.md §4.26).
	StartGroupChain(id, chain []byte, addrs [][]byte, started time.Time) error
	// SetGroupSentTo records the device addresses this device's sending chain
	// of group id was distributed to (spec/client-store.md §4.26), replacing
	// the record.
	SetGroupSentTo(id []byte, addrs [][]byte) error
	// GroupSend returns this device's sending chain of group id and whether a
	// new one is due, or ErrNotFound.
	GroupSend(id []byte) (chain []byte, rotate bool, err error)
	// MarkGroupRotate makes a new sending chain due for group id, if this
	// device has one.
	MarkGroupRotate(id []byte) error
	// PutGroupRecv stores a receiving chain of group id, bound to a device.
	PutGroupRecv(id, chainID []byte, r GroupRecv) error
	// GroupRecv returns the receiving chain chainID of group id, or
	// ErrNotFound.
	GroupRecv(id, chainID []byte) (GroupRecv, error)
	// DeleteGroupRecvOf deletes the receiving chains of group id bound to
	// handle's devices (a member removed or left, spec/groups.md §8.3).
	DeleteGroupRecvOf(id []byte, handle string) error
	// DeleteGroupRecvOfDevice deletes the receiving chains of group id bound
	// to one device (revoked, spec/groups.md §8.3).
	DeleteGroupRecvOfDevice(id []byte, handle string, device uint32) error
	// PutGroupOutgoing queues a group message.
	PutGroupOutgoing(o GroupOutgoing) error
	// GroupOutgoingQueue returns the queued group messages, oldest first.
	GroupOutgoingQueue() ([]GroupOutgoing, error)
	// DeleteGroupOutgoing removes an answered group message; ErrNotFound if it
	// is not queued.
	DeleteGroupOutgoing(messageID []byte) error
	// PutGroupHeldKey holds a distribution of group id, replacing one held
	// from the same device, and drops the oldest past maxGroupHeldKeys.
	PutGroupHeldKey(id []byte, k GroupHeldKey) error
	// GroupHeldKeys returns the distributions held for group id, oldest first.
	GroupHeldKeys(id []byte) ([]GroupHeldKey, error)
	// DeleteGroupHeldKey deletes the distribution held from one device for
	// group id, if any.
	DeleteGroupHeldKey(id []byte, handle string, device uint32) error
	// PutGroupLost stores a lost change of this account until it is rebased.
	PutGroupLost(l GroupLost) error
	// GroupLostChanges returns the stored lost changes, by group and change id.
	GroupLostChanges() ([]GroupLost, error)
	// DeleteGroupLost deletes a stored lost change; ErrNotFound if it is not
	// stored (another run rebased it).
	DeleteGroupLost(id, changeID []byte) error
	// PutGroupHeldMsg holds a group message and drops the oldest of its group
	// past MaxGroupHeldMsgs; it returns how many it dropped.
	PutGroupHeldMsg(m GroupHeldMsg) (int, error)
	// GroupHeldMsgs returns the messages held for chain chainID of group id,
	// oldest first.
	GroupHeldMsgs(id, chainID []byte) ([]GroupHeldMsg, error)
	// DeleteGroupHeldMsg deletes a held group message, if held.
	DeleteGroupHeldMsg(envID []byte) error
	// GroupSendRow returns the sending chain row of group id, or ErrNotFound.
	GroupSendRow(id []byte) (GroupSendRow, error)
	// AdvanceGroupSend replaces the sending chain of group id by its next
	// state, leaving the rest of the row (a new chain made due meanwhile stays
	// due); ErrNotFound without one.
	AdvanceGroupSend(id, chain []byte) error

	// history.go

	// PutHistory stores a message and returns its sequence number;
	// ErrDuplicate if the conversation has a message with its id.
	PutHistory(r HistoryRow) (int64, error)
	// History returns the message of the conversation with id, or ErrNotFound.
	History(conversation string, id []byte) (HistoryRow, error)
	// HistoryByID returns the messages with id in every conversation, by
	// conversation.
	HistoryByID(id []byte) ([]HistoryRow, error)
	// HistoryLatest returns up to limit of the newest messages of the
	// conversation, oldest first.
	HistoryLatest(conversation string, limit int) ([]HistoryRow, error)
	// HistoryBefore returns up to limit messages of the conversation stored
	// before seq, newest last.
	HistoryBefore(conversation string, seq int64, limit int) ([]HistoryRow, error)
	// HistoryExpired returns up to limit messages whose expiry is at or before
	// now, soonest first.
	HistoryExpired(now time.Time, limit int) ([]HistoryRow, error)
	// NextExpiry returns the soonest expiry of any message, or the zero time.
	NextExpiry() (time.Time, error)
	// UpdateHistory writes r's body, reactions, edit time, deleted flag,
	// read time and expiry over the stored message with r's conversation and
	// id; ErrNotFound if there is none.
	UpdateHistory(r HistoryRow) error
	// DeleteHistory deletes a message with its receipt state; ErrNotFound if
	// it is not stored.
	DeleteHistory(conversation string, id []byte) error
	// PutHeldContent stores h.
	PutHeldContent(h HeldContent) error
	// TakeHeldContent deletes and returns the held content waiting for target
	// in the conversation, in arrival order.
	TakeHeldContent(conversation string, target []byte) ([]HeldContent, error)
	// CountHeldContent returns how many items the conversation holds.
	CountHeldContent(conversation string) (int, error)
	// DropHeldContent deletes and returns the held items of the conversation
	// received before t, and then, while more than keep remain, the oldest;
	// conversation "" means every conversation (and keep is ignored).
	DropHeldContent(conversation string, before time.Time, keep int) ([]HeldContent, error)
	// ConversationTimer returns the disappearing-message timer of the
	// conversation with peer, in seconds (0 when never set)
	// (spec/client-store.md §4.17).
	ConversationTimer(peer string) (int64, error)
	// SetConversationTimer sets the conversation's timer.
	SetConversationTimer(peer string, seconds int64, at time.Time) error
	// PutMessageDevice records that a sent message went to a device.
	PutMessageDevice(messageID []byte, recipient string, device uint32) error
	// MessageDevices returns the receipt state of a sent message, by device.
	MessageDevices(messageID []byte) ([]MessageDevice, error)
	// MarkMessageDevice records a receipt: delivered at at, and with read also
	// read. It reports whether anything changed (a receipt for a message or
	// device never sent to, or one already recorded, changes nothing).
	MarkMessageDevice(messageID []byte, recipient string, device uint32, read bool, at time.Time) (bool, error)
	// QueueReceipt records a receipt to send to peer; a repeat changes
	// nothing.
	QueueReceipt(peer string, typ int, messageID []byte, at time.Time) error
	// PendingReceiptBatch returns the receipts of the peer and type of the
	// oldest queued receipt, up to limit, oldest first; nil when none wait.
	PendingReceiptBatch(limit int) (*PendingReceipts, error)
	// DeleteReceipts deletes queued receipts (they were sent).
	DeleteReceipts(peer string, typ int, ids [][]byte) error

	// identity.go

	// PutIdentity stores id, replacing any identity already stored.
	PutIdentity(id Identity) error
	// Identity returns the stored identity, or ErrNotFound.
	Identity() (Identity, error)

	// initials.go

	// RememberInitial records hash (SHA-256 of an initial message) as answered
	// with the signed prekey signedPrekey. Recording it again is not an error.
	RememberInitial(hash []byte, signedPrekey uint32, at time.Time) error
	// InitialAnswered reports whether hash was recorded by RememberInitial.
	InitialAnswered(hash []byte) (bool, error)
	// ForgetInitials deletes the initial messages recorded with signedPrekey
	// (once that prekey is deleted, a replay names a prekey that is gone) and
	// returns how many there were.
	ForgetInitials(signedPrekey uint32) (int64, error)

	// messages.go

	// MarkProcessed records id (an envelope or message id) as processed at at
	// (spec/client-store.md §4.7). It reports false if id was already recorded,
	// in which case nothing changes.
	MarkProcessed(id []byte, at time.Time) (bool, error)
	// IsProcessed reports whether id was recorded by MarkProcessed.
	IsProcessed(id []byte) (bool, error)
	// ForgetProcessedBefore deletes the processed ids recorded before t and
	// returns how many it deleted.
	ForgetProcessedBefore(t time.Time) (int64, error)
	// EnqueueOutgoing appends o to the queue and returns its sequence number;
	// ErrDuplicate if its message id, recipient and device are already queued.
	EnqueueOutgoing(o Outgoing) (int64, error)
	// OutgoingQueue returns up to limit queued envelopes, oldest first.
	OutgoingQueue(limit int) ([]Outgoing, error)
	// OutgoingAfter returns up to limit queued envelopes with a sequence
	// number above seq, oldest first: a way to page through the queue.
	OutgoingAfter(seq int64, limit int) ([]Outgoing, error)
	// OutgoingFor returns the queued envelopes of one message, in queue order.
	OutgoingFor(messageID []byte) ([]Outgoing, error)
	// RecordAttempt adds one to the attempts of a queued envelope; ErrNotFound
	// if it is not queued.
	RecordAttempt(messageID []byte, recipient string, device uint32) error
	// DeleteOutgoing removes a queued envelope (the relay stored it);
	// ErrNotFound if it is not queued.
	DeleteOutgoing(messageID []byte, recipient string, device uint32) error
	// PutInbox stores a received message and returns its sequence number;
	// ErrDuplicate if a message with its id is already stored.
	PutInbox(m InboxMessage) (int64, error)
	// Inbox returns the stored message with id, or ErrNotFound.
	Inbox(id []byte) (InboxMessage, error)
	// Undelivered returns up to limit messages not yet handed to the app and
	// not held, in arrival order.
	Undelivered(limit int) ([]InboxMessage, error)
	// Held returns the held messages from sender, in arrival order.
	Held(sender string) ([]InboxMessage, error)
	// ReleaseHeld clears the held flag of the held messages from sender,
	// keeping their place in the inbox and their KeyChanged mark, and returns
	// them in arrival order.
	ReleaseHeld(sender string) ([]InboxMessage, error)
	// MarkDelivered records that the app has the message; ErrNotFound if it
	// is not stored.
	MarkDelivered(id []byte) error
	// DeleteInbox deletes a stored message; ErrNotFound if it is not stored.
	DeleteInbox(id []byte) error
	// CountUndelivered returns how many messages wait in the inbox, not yet
	// handed to the app (acked by it) and not held.
	CountUndelivered() (int, error)

	// owndevices.go

	// PutOwnDevice records device with state and the certificate it was
	// approved with, replacing what was recorded for it.
	PutOwnDevice(device uint32, state OwnDeviceState, cert []byte) error
	// OwnDevices returns the recorded devices of this account by id.
	OwnDevices() (map[uint32]OwnDevice, error)
	// OwnDevice returns the record of device, or ErrNotFound.
	OwnDevice(device uint32) (OwnDevice, error)

	// prekeys.go

	// PutPrekey stores p, replacing a prekey of the same kind and id.
	PutPrekey(p Prekey) error
	// Prekey returns the prekey of kind and id, or ErrNotFound.
	Prekey(kind uint8, id uint32) (Prekey, error)
	// Prekeys returns the prekeys of kind in id order.
	Prekeys(kind uint8) ([]Prekey, error)
	// CountPrekeys returns how many prekeys of kind are stored.
	CountPrekeys(kind uint8) (int, error)
	// MarkPrekeyUsed records at as the prekey's first use (a later call keeps
	// the first time); ErrNotFound if there is no such prekey.
	MarkPrekeyUsed(kind uint8, id uint32, at time.Time) error
	// DeletePrekey deletes the prekey (SQLite overwrites the freed space:
	// secure_delete); ErrNotFound if there is none.
	DeletePrekey(kind uint8, id uint32) error
	// PrekeyInfos returns the prekeys of kind in id order without their
	// secrets (Secret is nil): for decisions on times and publication that
	// need no private key on the heap.
	PrekeyInfos(kind uint8) ([]Prekey, error)
	// MarkPrekeyPublished records that the key server acknowledged the
	// prekey: its Pending public half is dropped. ErrNotFound if there is no
	// such prekey.
	MarkPrekeyPublished(kind uint8, id uint32) error

	// push.go

	// PutPushTarget stores this device's push target.
	PutPushTarget(p PushTarget) error
	// PushTarget returns this device's push target, or ErrNotFound when it has
	// none (and the relay was told so).
	PushTarget() (PushTarget, error)
	// DeletePushTarget removes the push row; absent already is no error.
	DeletePushTarget() error
	// Heartbeat returns what is remembered of network's heartbeat, or
	// ErrNotFound.
	Heartbeat(network string) (Heartbeat, error)
	// PutHeartbeat remembers network's heartbeat, first in the row; beyond
	// MaxHeartbeatNetworks the least recently put is forgotten.
	PutHeartbeat(network string, hb Heartbeat) error

	// sendtokens.go

	// PutSendTokens adds tokens of one epoch to the wallet.
	PutSendTokens(epoch uint64, tokens [][]byte) error
	// SendTokenCount counts the wallet's tokens of epoch minEpoch or later.
	SendTokenCount(minEpoch uint64) (int, error)
	// TakeSendToken removes and returns a token of epoch minEpoch or later,
	// the oldest epoch first (it expires first); ErrNotFound if there is none.
	TakeSendToken(minEpoch uint64) (epoch uint64, token []byte, err error)
	// DropSendTokensBefore deletes the tokens of epochs before epoch (they no
	// longer verify, spec/anonymous.md §4.1) and returns how many.
	DropSendTokensBefore(epoch uint64) (int64, error)
	// SetOutgoingToken records the token a queued envelope is paid with (nil
	// token: none), so that its retries spend the same one
	// (spec/client.md §13.3); ErrNotFound if the envelope is not queued.
	SetOutgoingToken(messageID []byte, recipient string, device uint32, epoch uint64, token []byte) error

	// sent.go

	// PutSent records a queued message id; ErrDuplicate if it is recorded
	// already.
	PutSent(s Sent) error
	// Sent returns the record of a queued message id, or ErrNotFound.
	Sent(messageID []byte) (Sent, error)
	// ForgetSentBefore deletes the records of message ids queued before t
	// that are no longer queued, with their refused devices, and returns how
	// many records it deleted.
	ForgetSentBefore(t time.Time) (int64, error)
	// PutRefused records a device the relay refused messageID for; a second
	// record for the same device replaces the first.
	PutRefused(messageID []byte, r Refused) error
	// RefusedFor returns the devices the relay refused messageID for, by
	// recipient and device.
	RefusedFor(messageID []byte) ([]Refused, error)
	// OutgoingDevices returns the recipient devices with queued envelopes,
	// the device whose oldest envelope is oldest first.
	OutgoingDevices() ([]Device, error)
	// OutgoingHead returns the oldest queued envelope for one recipient
	// device (the lowest seq), or ErrNotFound.
	OutgoingHead(recipient string, device uint32) (Outgoing, error)
	// DropOutgoingHead deletes the oldest queued envelope for one recipient
	// device without reading it (a row that does not open); ErrNotFound if
	// none is queued.
	DropOutgoingHead(recipient string, device uint32) error

	// sessions.go

	// PutSession stores s, replacing the session with the same peer device.
	PutSession(s Session) error
	// EphemeralRun returns how many ephemeral messages were encrypted in a row
	// on the session with the peer device since its last stored message
	// (spec/client.md §12.7); ErrNotFound without a session.
	EphemeralRun(handle string, device uint32) (int, error)
	// SetEphemeralRun sets the ephemeral run of the session with the peer
	// device; ErrNotFound without a session.
	SetEphemeralRun(handle string, device uint32, n int) error
	// Session returns the session with the peer device, or ErrNotFound.
	Session(handle string, device uint32) (Session, error)
	// SessionDevices returns the devices of handle this device has a session
	// with, in order.
	SessionDevices(handle string) ([]uint32, error)
	// DeleteSession deletes the session with the peer device; ErrNotFound if
	// there is none.
	DeleteSession(handle string, device uint32) error
	// SessionPeers returns every peer device this device has a session with,
	// in order, without opening a state.
	SessionPeers() ([]SessionPeer, error)

	// trust.go

	// PutLogKey stores the log verifier key learned on first use.
	PutLogKey(key string) error
	// LogKey returns the stored log verifier key, or ErrNotFound.
	LogKey() (string, error)
	// KeySetHandles returns the handles that have a stored key set, in order.
	KeySetHandles() ([]string, error)
	// PutAuditState stores the encoded directory audit state
	// (directory.AuditState.Marshal), replacing the one stored.
	PutAuditState(state []byte) error
	// AuditState returns the stored encoded directory audit state, or
	// ErrNotFound.
	AuditState() ([]byte, error)
}
