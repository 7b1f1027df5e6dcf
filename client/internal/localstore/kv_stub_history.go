package localstore

import "time"

// TODO(kv): replaced by kv_history.go.

func (tx *kvTx) PutHistory(r HistoryRow) (int64, error) {
	panic("localstore: kv: PutHistory not implemented")
}

func (tx *kvTx) History(conversation string, id []byte) (HistoryRow, error) {
	panic("localstore: kv: History not implemented")
}

func (tx *kvTx) HistoryByID(id []byte) ([]HistoryRow, error) {
	panic("localstore: kv: HistoryByID not implemented")
}

func (tx *kvTx) HistoryLatest(conversation string, limit int) ([]HistoryRow, error) {
	panic("localstore: kv: HistoryLatest not implemented")
}

func (tx *kvTx) HistoryBefore(conversation string, seq int64, limit int) ([]HistoryRow, error) {
	panic("localstore: kv: HistoryBefore not implemented")
}

func (tx *kvTx) HistoryExpired(now time.Time, limit int) ([]HistoryRow, error) {
	panic("localstore: kv: HistoryExpired not implemented")
}

func (tx *kvTx) NextExpiry() (time.Time, error) { panic("localstore: kv: NextExpiry not implemented") }

func (tx *kvTx) UpdateHistory(r HistoryRow) error {
	panic("localstore: kv: UpdateHistory not implemented")
}

func (tx *kvTx) DeleteHistory(conversation string, id []byte) error {
	panic("localstore: kv: DeleteHistory not implemented")
}

func (tx *kvTx) PutHeldContent(h HeldContent) error {
	panic("localstore: kv: PutHeldContent not implemented")
}

func (tx *kvTx) TakeHeldContent(conversation string, target []byte) ([]HeldContent, error) {
	panic("localstore: kv: TakeHeldContent not implemented")
}

func (tx *kvTx) CountHeldContent(conversation string) (int, error) {
	panic("localstore: kv: CountHeldContent not implemented")
}

func (tx *kvTx) DropHeldContent(conversation string, before time.Time, keep int) ([]HeldContent, error) {
	panic("localstore: kv: DropHeldContent not implemented")
}

func (tx *kvTx) ConversationTimer(peer string) (int64, error) {
	panic("localstore: kv: ConversationTimer not implemented")
}

func (tx *kvTx) SetConversationTimer(peer string, seconds int64, at time.Time) error {
	panic("localstore: kv: SetConversationTimer not implemented")
}

func (tx *kvTx) PutMessageDevice(messageID []byte, recipient string, device uint32) error {
	panic("localstore: kv: PutMessageDevice not implemented")
}

func (tx *kvTx) MessageDevices(messageID []byte) ([]MessageDevice, error) {
	panic("localstore: kv: MessageDevices not implemented")
}

func (tx *kvTx) MarkMessageDevice(messageID []byte, recipient string, device uint32, read bool, at time.Time) (bool, error) {
	panic("localstore: kv: MarkMessageDevice not implemented")
}

func (tx *kvTx) QueueReceipt(peer string, typ int, messageID []byte, at time.Time) error {
	panic("localstore: kv: QueueReceipt not implemented")
}

func (tx *kvTx) PendingReceiptBatch(limit int) (*PendingReceipts, error) {
	panic("localstore: kv: PendingReceiptBatch not implemented")
}

func (tx *kvTx) DeleteReceipts(peer string, typ int, ids [][]byte) error {
	panic("localstore: kv: DeleteReceipts not implemented")
}
