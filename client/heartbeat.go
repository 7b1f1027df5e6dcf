package client

import (
	"github.com/sealpost/sealpost/client/internal/localstore"
	"github.com/sealpost/sealpost/client/internal/relaylink"
)

// heartbeatStore keeps the relay link's heartbeat memory in the local
// store (spec/push.md §9.4, spec/client-store.md §4.1), so that a CLI
// that runs again starts from what worked on its network.
type heartbeatStore struct{ c *Client }

func (s heartbeatStore) LoadHeartbeat(network string) (relaylink.HeartbeatMemory, bool) {
	var hb localstore.Heartbeat
	err := s.c.store.View(s.c.ctx, func(tx localstore.Tx) error {
		var err error
		hb, err = tx.Heartbeat(network)
		return err
	})
	if err != nil {
		return relaylink.HeartbeatMemory{}, false
	}
	return relaylink.HeartbeatMemory{Good: hb.Good, Bad: hb.Bad, BadUntil: hb.BadUntil}, true
}

func (s heartbeatStore) StoreHeartbeat(network string, m relaylink.HeartbeatMemory) {
	err := s.c.store.Update(s.c.ctx, func(tx localstore.Tx) error {
		return tx.PutHeartbeat(network, localstore.Heartbeat{Good: m.Good, Bad: m.Bad, BadUntil: m.BadUntil})
	})
	if err != nil && s.c.ctx.Err() == nil {
		s.c.log.Debug("client: remembering the heartbeat", "err", err)
	}
}
