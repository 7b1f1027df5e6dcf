package localstore

import "time"

// TODO(kv): replaced by kv_sent.go.

func (tx *kvTx) PutSent(s Sent) error { panic("localstore: kv: PutSent not implemented") }

func (tx *kvTx) Sent(messageID []byte) (Sent, error) { panic("localstore: kv: Sent not implemented") }

func (tx *kvTx) ForgetSentBefore(t time.Time) (int64, error) {
	panic("localstore: kv: ForgetSentBefore not implemented")
}

func (tx *kvTx) PutRefused(messageID []byte, r Refused) error {
	panic("localstore: kv: PutRefused not implemented")
}

func (tx *kvTx) RefusedFor(messageID []byte) ([]Refused, error) {
	panic("localstore: kv: RefusedFor not implemented")
}

func (tx *kvTx) OutgoingDevices() ([]Device, error) {
	panic("localstore: kv: OutgoingDevices not implemented")
}

func (tx *kvTx) OutgoingHead(recipient string, device uint32) (Outgoing, error) {
	panic("localstore: kv: OutgoingHead not implemented")
}

func (tx *kvTx) DropOutgoingHead(recipient string, device uint32) error {
	panic("localstore: kv: DropOutgoingHead not implemented")
}
