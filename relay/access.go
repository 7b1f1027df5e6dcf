package relay

import (
	"time"

	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/wire"
)

// Recipient access control (spec/relay.md §15.8). Protocol flow:
//
//	device (authenticated)                 relay
//	SetAccess{mode, verifier, prev}  ->    store the setting with the mailbox
//	                                 <-    AccessSet (in order, once durable)
//	sender (anonymous)
//	Send{items{access_key}, token}   ->    V = SHA-256(label || access_key) per
//	                                       item, compared in the store's send
//	                                       transaction with the mailbox's
//	                                       verifiers; else the first-contact
//	                                       allowance; else access_denied
//
// The relay keeps no copy of any setting: the store reads it in each
// send's transaction, so a change is in force on every node at once.

// setAccess handles a SetAccess (spec/relay.md §15.8) beside the reader,
// like a send; a connection's SetAccess and SetPush frames are applied and
// answered in the order received, each after the one before it.
func (c *conn) setAccess(m *wire.SetAccess) bool {
	s := c.s
	ch := store.AccessChange{Mode: store.AccessMode(m.Mode), PreviousValid: time.Duration(m.PreviousValidSeconds) * time.Second}
	mode := "open"
	if m.Mode == wire.AccessMode_ACCESS_MODE_CONTACTS {
		ch.Verifier, mode = m.Verifier, "contacts"
	}
	return c.inOrder("set_access", func() (*wire.Frame, error) {
		ch.Now = s.now()
		if err := s.q.SetAccess(s.ctx, []byte(c.addr), ch); err != nil {
			return nil, err
		}
		s.m.accessSet(mode)
		return &wire.Frame{Body: &wire.Frame_AccessSet{AccessSet: &wire.AccessSet{}}}, nil
	})
}

// inOrder runs op beside the reader, after the op of the connection's
// previous SetAccess or SetPush has finished, and queues the answer it
// returns; a store error fails the connection. It holds an in-flight slot
// (backpressure) while op waits and runs. False ends the reader.
func (c *conn) inOrder(name string, op func() (*wire.Frame, error)) bool {
	s := c.s
	if !c.acquire() {
		return false
	}
	if !s.beginOp() {
		c.release()
		c.fail(wire.ErrorCode_ERROR_CODE_SHUTTING_DOWN, "")
		return false
	}
	prev, done := c.accessDone, make(chan struct{})
	c.accessDone = done
	go func() {
		defer s.inflight.Done()
		defer c.release()
		defer close(done)
		if prev != nil {
			<-prev
		}
		if c.isClosing() {
			return
		}
		start := time.Now()
		answer, err := op()
		s.m.store(name, start)
		if err != nil {
			s.log.Error("relay: store failed", "op", name, "err", err)
			c.fail(storeFailure(err), "store failed")
			return
		}
		c.enqueue(answer, true)
	}()
	return true
}

// accessItems converts the items of an anonymous Send for the store, each
// with the verifier of its access key, if it has one (spec/relay.md
// §15.8). The codec admitted only keys of wire.AccessKeySize bytes.
func accessItems(m *wire.Send) []store.Item {
	in := m.Items
	items := make([]store.Item, len(in))
	var vs [][wire.AccessVerifierSize]byte
	for i, it := range in {
		items[i] = store.Item{Recipient: it.Recipient, Envelope: itemEnvelope(m, it)}
		if len(it.AccessKey) != wire.AccessKeySize {
			continue
		}
		if vs == nil {
			vs = make([][wire.AccessVerifierSize]byte, len(in))
		}
		vs[i] = wire.AccessVerifier((*[wire.AccessKeySize]byte)(it.AccessKey))
		items[i].AccessVerifier = vs[i][:]
	}
	return items
}
