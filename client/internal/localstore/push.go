package localstore

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"slices"
	"time"
)

// Push target kinds as stored (spec/client-store.md §4.1, row "push").
const (
	PushNone    = 0 // the target was removed and the relay not yet told
	PushWebPush = 1
	PushGateway = 2
)

// PushTarget is this device's push target (spec/push.md §8.1), the sealed
// meta row "push".
type PushTarget struct {
	Kind         uint8 // PushNone, PushWebPush or PushGateway
	Endpoint     string
	P256dh, Auth []byte // web push
	Token        []byte // gateway
	// Status is the relay's last answer to it (wire.PushStatus), 0 until
	// the relay answered.
	Status uint8
}

const pushName = "push"

func pushAD() rowKey { return newRowKey("meta", "value").text(pushName) }

// maxPushField bounds each variable field of the push row.
const maxPushField = 1 << 12

// encoding: kind (1) || status (1) || for each of endpoint, p256dh, auth,
// token: u16 length || bytes.
func (p *PushTarget) marshal() []byte {
	b := []byte{p.Kind, p.Status}
	for _, f := range [][]byte{[]byte(p.Endpoint), p.P256dh, p.Auth, p.Token} {
		b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
		b = append(b, f...)
	}
	return b
}

// PutPushTarget stores this device's push target.
func (tx *sqlTx) PutPushTarget(p PushTarget) error {
	if tx.readOnly {
		return errReadOnly
	}
	return putPushTarget(tx, p)
}

// putPushTarget checks p and stores it in the meta row "push" (both
// engines).
func putPushTarget(m metaTable, p PushTarget) error {
	if p.Kind > PushGateway {
		return errors.New("localstore: unknown push target kind")
	}
	for _, n := range []int{len(p.Endpoint), len(p.P256dh), len(p.Auth), len(p.Token)} {
		if n > maxPushField {
			return errors.New("localstore: push target field too long")
		}
	}
	return m.putMeta(pushName, pushAD(), p.marshal())
}

// PushTarget returns this device's push target, or ErrNotFound when it has
// none (and the relay was told so).
func (tx *sqlTx) PushTarget() (PushTarget, error) {
	return loadPushTarget(tx)
}

// loadPushTarget reads and parses the meta row "push" (both engines).
func loadPushTarget(m metaTable) (PushTarget, error) {
	b, err := m.meta(pushName, pushAD())
	if err != nil {
		return PushTarget{}, err
	}
	if len(b) < 2 || b[0] > PushGateway {
		return PushTarget{}, corrupt("push target")
	}
	p := PushTarget{Kind: b[0], Status: b[1]}
	rest := b[2:]
	fields := make([][]byte, 4)
	for i := range fields {
		if len(rest) < 2 {
			return PushTarget{}, corrupt("push target")
		}
		n := int(binary.BigEndian.Uint16(rest))
		if len(rest) < 2+n {
			return PushTarget{}, corrupt("push target")
		}
		if n > 0 {
			fields[i] = rest[2 : 2+n]
		}
		rest = rest[2+n:]
	}
	if len(rest) != 0 {
		return PushTarget{}, corrupt("push target")
	}
	p.Endpoint, p.P256dh, p.Auth, p.Token = string(fields[0]), fields[1], fields[2], fields[3]
	return p, nil
}

// DeletePushTarget removes the push row; absent already is no error.
func (tx *sqlTx) DeletePushTarget() error {
	if tx.readOnly {
		return errReadOnly
	}
	_, err := tx.exec("delete push", `DELETE FROM meta WHERE name = ?`, pushName)
	return err
}

// Heartbeat is what the client remembers of one network's heartbeat
// (spec/push.md §9.4).
type Heartbeat struct {
	// Good is the longest interval known to keep a connection alive;
	// Bad the shortest known to lose one, avoided until BadUntil.
	Good, Bad time.Duration
	BadUntil  time.Time
}

// MaxHeartbeatNetworks bounds the networks the heartbeat row remembers:
// the least recently updated goes first.
const MaxHeartbeatNetworks = 16

const heartbeatName = "heartbeat"

func heartbeatAD() rowKey { return newRowKey("meta", "value").text(heartbeatName) }

// networkKeySize is the size of a stored network key: the first 16 bytes
// of SHA-256 of the network's id, so that the row holds no address.
const networkKeySize = 16

// heartbeatEntrySize: key (16) || good ms (u32) || bad ms (u32) || bad
// until (u64 Unix nanoseconds).
const heartbeatEntrySize = networkKeySize + 4 + 4 + 8

func networkKey(network string) [networkKeySize]byte {
	h := sha256.Sum256([]byte(network))
	return [networkKeySize]byte(h[:networkKeySize])
}

type heartbeatEntry struct {
	key [networkKeySize]byte
	hb  Heartbeat
}

// loadHeartbeats reads and parses the heartbeat row, newest first; none
// without the row (both engines).
func loadHeartbeats(m metaTable) ([]heartbeatEntry, error) {
	b, err := m.meta(heartbeatName, heartbeatAD())
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(b)%heartbeatEntrySize != 0 || len(b)/heartbeatEntrySize > MaxHeartbeatNetworks {
		return nil, corrupt("heartbeat row")
	}
	var es []heartbeatEntry
	for ; len(b) > 0; b = b[heartbeatEntrySize:] {
		var e heartbeatEntry
		copy(e.key[:], b)
		e.hb.Good = time.Duration(binary.BigEndian.Uint32(b[16:])) * time.Millisecond
		e.hb.Bad = time.Duration(binary.BigEndian.Uint32(b[20:])) * time.Millisecond
		e.hb.BadUntil = fromNanos(int64(binary.BigEndian.Uint64(b[24:])))
		es = append(es, e)
	}
	return es, nil
}

// Heartbeat returns what is remembered of network's heartbeat, or
// ErrNotFound.
func (tx *sqlTx) Heartbeat(network string) (Heartbeat, error) {
	return loadHeartbeat(tx, network)
}

// loadHeartbeat finds network in the heartbeat row (both engines).
func loadHeartbeat(m metaTable, network string) (Heartbeat, error) {
	es, err := loadHeartbeats(m)
	if err != nil {
		return Heartbeat{}, err
	}
	k := networkKey(network)
	for _, e := range es {
		if e.key == k {
			return e.hb, nil
		}
	}
	return Heartbeat{}, ErrNotFound
}

// PutHeartbeat remembers network's heartbeat, first in the row; beyond
// MaxHeartbeatNetworks the least recently put is forgotten.
func (tx *sqlTx) PutHeartbeat(network string, hb Heartbeat) error {
	if tx.readOnly {
		return errReadOnly
	}
	return putHeartbeat(tx, network, hb)
}

// putHeartbeat puts network's heartbeat first in the heartbeat row (both
// engines).
func putHeartbeat(m metaTable, network string, hb Heartbeat) error {
	es, err := loadHeartbeats(m)
	if err != nil {
		return err
	}
	k := networkKey(network)
	es = slices.DeleteFunc(es, func(e heartbeatEntry) bool { return e.key == k })
	es = slices.Insert(es, 0, heartbeatEntry{key: k, hb: hb})
	if len(es) > MaxHeartbeatNetworks {
		es = es[:MaxHeartbeatNetworks]
	}
	ms := func(d time.Duration) uint32 { return uint32(min(max(d/time.Millisecond, 0), 1<<32-1)) }
	b := make([]byte, 0, len(es)*heartbeatEntrySize)
	for _, e := range es {
		b = append(b, e.key[:]...)
		b = binary.BigEndian.AppendUint32(b, ms(e.hb.Good))
		b = binary.BigEndian.AppendUint32(b, ms(e.hb.Bad))
		b = binary.BigEndian.AppendUint64(b, uint64(nanos(e.hb.BadUntil)))
	}
	return m.putMeta(heartbeatName, heartbeatAD(), b)
}
