package localstore

import "time"

// TODO(kv): replaced by kv_messages.go.

func (tx *kvTx) MarkProcessed(id []byte, at time.Time) (bool, error) {
	panic("localstore: kv: MarkProcessed not implemented")
}

func (tx *kvTx) IsProcessed(id []byte) (bool, error) {
	panic("localstore: kv: IsProcessed not implemented")
}

func (tx *kvTx) ForgetProcessedBefore(t time.Time) (int64, error) {
	panic("localstore: kv: ForgetProcessedBefore not implemented")
}

func (tx *kvTx) EnqueueOutgoing(o Outgoing) (int64, error) {
	panic("localstore: kv: EnqueueOutgoing not implemented")
}

func (tx *kvTx) OutgoingQueue(limit int) ([]Outgoing, error) {
	panic("localstore: kv: OutgoingQueue not implemented")
}

func (tx *kvTx) OutgoingAfter(seq int64, limit int) ([]Outgoing, error) {
	panic("localstore: kv: OutgoingAfter not implemented")
}

func (tx *kvTx) OutgoingFor(messageID []byte) ([]Outgoing, error) {
	panic("localstore: kv: OutgoingFor not implemented")
}

func (tx *kvTx) RecordAttempt(messageID []byte, recipient string, device uint32) error {
	panic("localstore: kv: RecordAttempt not implemented")
}

func (tx *kvTx) DeleteOutgoing(messageID []byte, recipient string, device uint32) error {
	panic("localstore: kv: DeleteOutgoing not implemented")
}

func (tx *kvTx) PutInbox(m InboxMessage) (int64, error) {
	panic("localstore: kv: PutInbox not implemented")
}

func (tx *kvTx) Inbox(id []byte) (InboxMessage, error) {
	panic("localstore: kv: Inbox not implemented")
}

func (tx *kvTx) Undelivered(limit int) ([]InboxMessage, error) {
	panic("localstore: kv: Undelivered not implemented")
}

func (tx *kvTx) Held(sender string) ([]InboxMessage, error) {
	panic("localstore: kv: Held not implemented")
}

func (tx *kvTx) ReleaseHeld(sender string) ([]InboxMessage, error) {
	panic("localstore: kv: ReleaseHeld not implemented")
}

func (tx *kvTx) MarkDelivered(id []byte) error {
	panic("localstore: kv: MarkDelivered not implemented")
}

func (tx *kvTx) DeleteInbox(id []byte) error { panic("localstore: kv: DeleteInbox not implemented") }

func (tx *kvTx) CountUndelivered() (int, error) {
	panic("localstore: kv: CountUndelivered not implemented")
}
