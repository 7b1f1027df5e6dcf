package relay

import (
	"context"
	"time"

	"github.com/sealpost/sealpost/relay/store"
)

// nopQueue is a Queue for tests of configuration only.
type nopQueue struct{}

func (*nopQueue) OpenMailbox(context.Context, []byte, time.Time) error { return errNop }
func (*nopQueue) Send(context.Context, store.Send) (store.SendResult, error) {
	return store.SendResult{}, errNop
}
func (*nopQueue) Fetch(context.Context, []byte, int64, int, time.Time) ([]store.Envelope, error) {
	return nil, errNop
}
func (*nopQueue) Ack(context.Context, []byte, []int64) (int, error)           { return 0, errNop }
func (*nopQueue) Stats(context.Context, []byte) (store.Stats, error)          { return store.Stats{}, errNop }
func (*nopQueue) Sweep(context.Context, time.Time) (int, error)               { return 0, errNop }
func (*nopQueue) Wake() <-chan []byte                                         { return nil }
func (*nopQueue) Close() error                                                { return nil }
func (*nopQueue) SetAccess(context.Context, []byte, store.AccessChange) error { return errNop }
func (*nopQueue) Access(context.Context, []byte) (store.Access, error) {
	return store.Access{}, errNop
}
