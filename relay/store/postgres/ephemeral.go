package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/wire"
)

// ephemeralChannel is the LISTEN/NOTIFY channel on which relay nodes
// sharing a database forward ephemeral envelopes (spec/relay.md §7.4,
// §12). The payload is the standard base64 (with padding) of
// schema tag || address || envelope; the address is self-delimiting
// (spec/relay.md §4).
const ephemeralChannel = "sealpost_relay_ephemeral"

// ephemeralTagSize is the size of the schema tag of a payload.
const ephemeralTagSize = 8

// ephemeralTag is the schema tag of a payload: NOTIFY reaches every
// session of the database, so relays on other schemas (other deployments)
// hear it too, and must not deliver it to their own devices of the same
// address (spec/relay.md §12).
func ephemeralTag(schema string) [ephemeralTagSize]byte {
	h := sha256.Sum256([]byte("sealpost/v1/relay-ephemeral-bus\x00" + schema))
	return [ephemeralTagSize]byte(h[:ephemeralTagSize])
}

// MaxNotifyPayload is PostgreSQL's limit on a NOTIFY payload (bytes, less
// than 8000 in the default build).
const MaxNotifyPayload = 7999

// MaxEphemeralEnvelope is the largest envelope the bus carries: its
// payload, base64 of the tag, the longest address and the envelope, fits
// a NOTIFY.
// The relay refuses a max_ephemeral_envelope above it (spec/relay.md §6).
const MaxEphemeralEnvelope = MaxNotifyPayload/4*3 - ephemeralTagSize - wire.MaxAddressSize // 5952

// Bounds of the bus: items waiting to be published, and items received
// waiting for the relay.
const (
	maxEphemeralPending = 4096
	ephemeralBuffer     = 4096
)

// publisher sends the NOTIFYs of ephemeral items from the pool, every
// item waiting in one statement, in a transaction that does not wait for
// its commit record to be flushed (synchronous_commit off: a notification
// is not worth a WAL flush, and the transaction writes no row).
type publisher struct {
	pool *pgxpool.Pool

	mu      sync.Mutex
	pending []string // base64 payloads
	closed  bool

	kick chan struct{}
	quit chan struct{}
	done chan struct{}
	once sync.Once
}

func newPublisher(pool *pgxpool.Pool) *publisher {
	p := &publisher{pool: pool, kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

// add queues one payload; false if the queue is full or stopped.
func (p *publisher) add(payload string) bool {
	p.mu.Lock()
	if p.closed || len(p.pending) >= maxEphemeralPending {
		p.mu.Unlock()
		return false
	}
	p.pending = append(p.pending, payload)
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
	return true
}

func (p *publisher) run() {
	defer close(p.done)
	for {
		select {
		case <-p.kick:
			p.flush()
		case <-p.quit:
			return
		}
	}
}

// flush publishes what is pending; a failure drops it (best effort).
func (p *publisher) flush() {
	p.mu.Lock()
	payloads := p.pending
	p.pending = nil
	p.mu.Unlock()
	if len(payloads) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), notifyTimeout)
	defer cancel()
	pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error { //nolint:errcheck // best effort, see above
		if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit TO off"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, ephemeralChannel, payloads)
		return err
	})
}

// stop drops what is pending and stops the publisher. It may be called
// more than once.
func (p *publisher) stop() {
	p.once.Do(func() {
		p.mu.Lock()
		p.closed, p.pending = true, nil
		p.mu.Unlock()
		close(p.quit)
	})
	<-p.done
}

var _ store.EphemeralBus = (*Queue)(nil)

// PublishEphemeral implements store.EphemeralBus: it queues a NOTIFY on
// sealpost_relay_ephemeral for the other nodes (spec/relay.md §7.4). It
// never blocks; false if it dropped the item.
func (q *Queue) PublishEphemeral(addr, env []byte) bool {
	if len(env) > MaxEphemeralEnvelope || wire.CheckAddress(addr) != nil {
		return false
	}
	b := make([]byte, 0, ephemeralTagSize+len(addr)+len(env))
	b = append(append(append(b, q.tag[:]...), addr...), env...)
	return q.publish.add(base64.StdEncoding.EncodeToString(b))
}

// Ephemeral implements store.EphemeralBus: the items other nodes
// published. It is closed by Close.
func (q *Queue) Ephemeral() <-chan store.Item { return q.eph }

// deliverEphemeral passes a received payload to Ephemeral, dropping it if
// the channel is full or the payload is not address || envelope. The
// listener calls it concurrently with Close, so it holds mu.
func (q *Queue) deliverEphemeral(payload string) {
	b, err := base64.StdEncoding.DecodeString(payload)
	if err != nil || len(b) <= ephemeralTagSize || [ephemeralTagSize]byte(b[:ephemeralTagSize]) != q.tag {
		return // another schema's, or not a payload
	}
	b = b[ephemeralTagSize:]
	n := 1 + int(b[0]) + 4
	if len(b) <= n || wire.CheckAddress(b[:n]) != nil {
		return
	}
	if !q.enter() {
		return
	}
	defer q.mu.RUnlock()
	select {
	case q.eph <- store.Item{Recipient: b[:n:n], Envelope: b[n:]}:
	default:
	}
}
