package localstore

// TODO(kv): replaced by kv_sendtokens.go.

func (tx *kvTx) PutSendTokens(epoch uint64, tokens [][]byte) error {
	panic("localstore: kv: PutSendTokens not implemented")
}

func (tx *kvTx) SendTokenCount(minEpoch uint64) (int, error) {
	panic("localstore: kv: SendTokenCount not implemented")
}

func (tx *kvTx) TakeSendToken(minEpoch uint64) (epoch uint64, token []byte, err error) {
	panic("localstore: kv: TakeSendToken not implemented")
}

func (tx *kvTx) DropSendTokensBefore(epoch uint64) (int64, error) {
	panic("localstore: kv: DropSendTokensBefore not implemented")
}

func (tx *kvTx) SetOutgoingToken(messageID []byte, recipient string, device uint32, epoch uint64, token []byte) error {
	panic("localstore: kv: SetOutgoingToken not implemented")
}
