package localstore

import "time"

// TODO(kv): replaced by kv_groups.go.

func (tx *kvTx) PutGroup(id, tracker []byte, updated time.Time) error {
	panic("localstore: kv: PutGroup not implemented")
}

func (tx *kvTx) Group(id []byte) ([]byte, error) { panic("localstore: kv: Group not implemented") }

func (tx *kvTx) GroupSealed(id []byte) ([]byte, error) {
	panic("localstore: kv: GroupSealed not implemented")
}

func (tx *kvTx) OpenGroup(id, sealed []byte) ([]byte, error) {
	panic("localstore: kv: OpenGroup not implemented")
}

func (tx *kvTx) GroupIDs() ([][]byte, error) { panic("localstore: kv: GroupIDs not implemented") }

func (tx *kvTx) PutGroupSend(id, chain []byte, rotate bool) error {
	panic("localstore: kv: PutGroupSend not implemented")
}

func (tx *kvTx) StartGroupChain(id, chain []byte, addrs [][]byte, started time.Time) error {
	panic("localstore: kv: StartGroupChain not implemented")
}

func (tx *kvTx) SetGroupSentTo(id []byte, addrs [][]byte) error {
	panic("localstore: kv: SetGroupSentTo not implemented")
}

func (tx *kvTx) GroupSend(id []byte) (chain []byte, rotate bool, err error) {
	panic("localstore: kv: GroupSend not implemented")
}

func (tx *kvTx) MarkGroupRotate(id []byte) error {
	panic("localstore: kv: MarkGroupRotate not implemented")
}

func (tx *kvTx) PutGroupRecv(id, chainID []byte, r GroupRecv) error {
	panic("localstore: kv: PutGroupRecv not implemented")
}

func (tx *kvTx) GroupRecv(id, chainID []byte) (GroupRecv, error) {
	panic("localstore: kv: GroupRecv not implemented")
}

func (tx *kvTx) DeleteGroupRecvOf(id []byte, handle string) error {
	panic("localstore: kv: DeleteGroupRecvOf not implemented")
}

func (tx *kvTx) DeleteGroupRecvOfDevice(id []byte, handle string, device uint32) error {
	panic("localstore: kv: DeleteGroupRecvOfDevice not implemented")
}

func (tx *kvTx) PutGroupOutgoing(o GroupOutgoing) error {
	panic("localstore: kv: PutGroupOutgoing not implemented")
}

func (tx *kvTx) GroupOutgoingQueue() ([]GroupOutgoing, error) {
	panic("localstore: kv: GroupOutgoingQueue not implemented")
}

func (tx *kvTx) DeleteGroupOutgoing(messageID []byte) error {
	panic("localstore: kv: DeleteGroupOutgoing not implemented")
}

func (tx *kvTx) PutGroupHeldKey(id []byte, k GroupHeldKey) error {
	panic("localstore: kv: PutGroupHeldKey not implemented")
}

func (tx *kvTx) GroupHeldKeys(id []byte) ([]GroupHeldKey, error) {
	panic("localstore: kv: GroupHeldKeys not implemented")
}

func (tx *kvTx) DeleteGroupHeldKey(id []byte, handle string, device uint32) error {
	panic("localstore: kv: DeleteGroupHeldKey not implemented")
}

func (tx *kvTx) PutGroupLost(l GroupLost) error {
	panic("localstore: kv: PutGroupLost not implemented")
}

func (tx *kvTx) GroupLostChanges() ([]GroupLost, error) {
	panic("localstore: kv: GroupLostChanges not implemented")
}

func (tx *kvTx) DeleteGroupLost(id, changeID []byte) error {
	panic("localstore: kv: DeleteGroupLost not implemented")
}

func (tx *kvTx) PutGroupHeldMsg(m GroupHeldMsg) (int, error) {
	panic("localstore: kv: PutGroupHeldMsg not implemented")
}

func (tx *kvTx) GroupHeldMsgs(id, chainID []byte) ([]GroupHeldMsg, error) {
	panic("localstore: kv: GroupHeldMsgs not implemented")
}

func (tx *kvTx) DeleteGroupHeldMsg(envID []byte) error {
	panic("localstore: kv: DeleteGroupHeldMsg not implemented")
}

func (tx *kvTx) GroupSendRow(id []byte) (GroupSendRow, error) {
	panic("localstore: kv: GroupSendRow not implemented")
}

func (tx *kvTx) AdvanceGroupSend(id, chain []byte) error {
	panic("localstore: kv: AdvanceGroupSend not implemented")
}
