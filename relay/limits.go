package relay

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/sealpost/sealpost/relay/wire"
)

// Limits are the relay's limits and timings (spec/relay.md §6). The first
// eight, MaxEphemeralEnvelope, EphemeralPerSecond and EphemeralBurst are
// announced to clients in Hello.
type Limits struct {
	// MaxEnvelope caps one envelope; larger ones get status too_large.
	MaxEnvelope int
	// MaxFrame caps one frame, in both directions; a longer frame from a
	// client is refused with frame_too_large without being read to its end.
	MaxFrame int
	// MaxQueueCount caps the envelopes of one mailbox.
	MaxQueueCount int
	// MaxQueueBytes caps the envelope bytes of one mailbox.
	MaxQueueBytes int64
	// TTL is how long a stored envelope is kept (whole seconds).
	TTL time.Duration
	// DedupWindow is how long the answer to a send is kept for its retries.
	DedupWindow time.Duration
	// SendsPerSecond and SendBurst are the token bucket of Send frames per
	// address.
	SendsPerSecond int
	SendBurst      int
	// DeliveryWindow caps the envelopes delivered on a connection and not
	// yet acked.
	DeliveryWindow int
	// HeartbeatInterval is how often the relay pings an open connection.
	HeartbeatInterval time.Duration
	// IdleTimeout closes a connection that sent no frame for this long.
	IdleTimeout time.Duration
	// AuthTimeout is the time a new connection has to send Auth.
	AuthTimeout time.Duration
	// WriteTimeout caps the writing of one frame.
	WriteTimeout time.Duration
	// MaxConnsPerIP caps the open WebSockets per client IP address.
	MaxConnsPerIP int
	// SweepInterval is how often expired envelopes and dedup records are
	// deleted.
	SweepInterval time.Duration
	// QuotaSharePercent is the share of each recipient device's
	// MaxQueueCount and MaxQueueBytes that the envelopes of one sender
	// budget may hold, per relay node (spec/relay.md §6.1).
	QuotaSharePercent int
	// QuotaRate and QuotaBurst are the token bucket of envelopes per
	// (sender budget, recipient account); QuotaBytesRate and
	// QuotaBytesBurst that of envelope bytes (spec/relay.md §6.1).
	QuotaRate       int
	QuotaBurst      int
	QuotaBytesRate  int64
	QuotaBytesBurst int64
	// QuotaShareRetry is the retry-after of an item refused because its
	// sender holds its share of the mailbox.
	QuotaShareRetry time.Duration
	// ReconnectRate is how many WebSocket upgrades per second the relay
	// admits (a tenth of a second's worth at once); beyond it an upgrade
	// gets 503 with a retry hint. With the open connections it sizes the
	// reconnect window announced to clients (spec/relay.md §2.5).
	ReconnectRate int
	// MaxReconnectWindow caps the reconnect window announced to clients.
	MaxReconnectWindow time.Duration
	// MaxEphemeralEnvelope caps one ephemeral envelope (spec/relay.md
	// §7.4); larger ones are dropped. At most MaxEnvelope and
	// MaxEphemeralEnvelopeCap.
	MaxEphemeralEnvelope int
	// EphemeralPerSecond and EphemeralBurst are the token bucket of
	// ephemeral items per sending address (spec/relay.md §7.4).
	EphemeralPerSecond int
	EphemeralBurst     int
	// EphemeralPairRate and EphemeralPairBurst are the token bucket of
	// ephemeral items per (sender budget, recipient account); items to
	// the sender's own account are exempt (spec/relay.md §7.4).
	EphemeralPairRate  int
	EphemeralPairBurst int
	// FirstContactPerHour is the first-contact allowance of a mailbox in
	// mode contacts: unsolicited anonymous items admitted per hour, burst
	// the same (spec/relay.md §15.8). Zero means the default; a negative
	// value admits none.
	FirstContactPerHour int
	// LinkTTL is the lifetime of a link mailbox from its creation
	// (spec/relay.md §17.2), whole milliseconds.
	LinkTTL time.Duration
	// MaxLinks caps the live link mailboxes; an AuthLink that would
	// create one more is rate_limited (spec/relay.md §17.6).
	MaxLinks int
	// LinkOpensPerMinute and LinkOpenBurst are the token bucket of
	// AuthLink frames without a token per client IP address, kept in
	// memory per node (spec/relay.md §17.6).
	LinkOpensPerMinute int
	LinkOpenBurst      int
}

// maxFirstContactPerHour bounds Limits.FirstContactPerHour: one a
// millisecond.
const maxFirstContactPerHour = 3_600_000

// MaxEphemeralEnvelopeCap is the largest Limits.MaxEphemeralEnvelope: an
// item forwarded to another node must fit a PostgreSQL NOTIFY payload
// (less than 8000 bytes, as base64 with its address; spec/relay.md §6,
// §12).
const MaxEphemeralEnvelopeCap = 4096

// DefaultReconnectRate is the default Limits.ReconnectRate: upgrades per
// second one node admits (spec/relay.md §2.5, §6), below what a 2-core
// node completes (TLS handshake, token check, mailbox open) while serving
// its open connections, so a herd coming back queues at the clients, not
// in the relay's accept backlog.
const DefaultReconnectRate = 1000

// DefaultLimits returns the default limits (spec/relay.md §6).
func DefaultLimits() Limits {
	return Limits{
		MaxEnvelope:       wire.DefaultMaxEnvelope,
		MaxFrame:          wire.DefaultMaxFrame,
		MaxQueueCount:     10000,
		MaxQueueBytes:     256 << 20,
		TTL:               30 * 24 * time.Hour,
		DedupWindow:       7 * 24 * time.Hour,
		SendsPerSecond:    200,
		SendBurst:         400,
		DeliveryWindow:    128,
		HeartbeatInterval: 30 * time.Second,
		IdleTimeout:       90 * time.Second,
		AuthTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		MaxConnsPerIP:     64,
		SweepInterval:     time.Minute,
		QuotaSharePercent: 10,
		QuotaRate:         50,
		QuotaBurst:        500,
		QuotaBytesRate:    16 << 20,
		QuotaBytesBurst:   64 << 20,
		QuotaShareRetry:   5 * time.Second,

		ReconnectRate:      DefaultReconnectRate,
		MaxReconnectWindow: 10 * time.Second,

		MaxEphemeralEnvelope: wire.DefaultMaxEphemeralEnvelope,
		EphemeralPerSecond:   20,
		EphemeralBurst:       40,
		EphemeralPairRate:    5,
		EphemeralPairBurst:   10,
		FirstContactPerHour:  10,

		LinkTTL:            10 * time.Minute,
		MaxLinks:           100_000,
		LinkOpensPerMinute: 10,
		LinkOpenBurst:      20,
	}
}

// frameHeadroom is what max_frame must leave above max_envelope for a Send
// or Deliver of one envelope (spec/relay.md §6: one item costs under 100
// bytes).
const frameHeadroom = 1024

// withDefaults returns l with every zero field taken from DefaultLimits.
// A zero MaxFrame becomes MaxEnvelope plus 64 KiB.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	def := func(v *int, dv int) {
		if *v == 0 {
			*v = dv
		}
	}
	defDur := func(v *time.Duration, dv time.Duration) {
		if *v == 0 {
			*v = dv
		}
	}
	def(&l.MaxEnvelope, d.MaxEnvelope)
	def(&l.MaxFrame, l.MaxEnvelope+64<<10)
	def(&l.MaxQueueCount, d.MaxQueueCount)
	if l.MaxQueueBytes == 0 {
		l.MaxQueueBytes = d.MaxQueueBytes
	}
	defDur(&l.TTL, d.TTL)
	defDur(&l.DedupWindow, d.DedupWindow)
	def(&l.SendsPerSecond, d.SendsPerSecond)
	def(&l.SendBurst, d.SendBurst)
	def(&l.DeliveryWindow, d.DeliveryWindow)
	defDur(&l.HeartbeatInterval, d.HeartbeatInterval)
	defDur(&l.IdleTimeout, d.IdleTimeout)
	defDur(&l.AuthTimeout, d.AuthTimeout)
	defDur(&l.WriteTimeout, d.WriteTimeout)
	def(&l.MaxConnsPerIP, d.MaxConnsPerIP)
	defDur(&l.SweepInterval, d.SweepInterval)
	def(&l.QuotaSharePercent, d.QuotaSharePercent)
	defDur(&l.QuotaShareRetry, d.QuotaShareRetry)
	def(&l.ReconnectRate, d.ReconnectRate)
	defDur(&l.MaxReconnectWindow, d.MaxReconnectWindow)
	def(&l.MaxEphemeralEnvelope, min(d.MaxEphemeralEnvelope, l.MaxEnvelope))
	def(&l.EphemeralPerSecond, d.EphemeralPerSecond)
	def(&l.EphemeralBurst, d.EphemeralBurst)
	def(&l.EphemeralPairRate, d.EphemeralPairRate)
	def(&l.EphemeralPairBurst, d.EphemeralPairBurst)
	def(&l.FirstContactPerHour, d.FirstContactPerHour)
	defDur(&l.LinkTTL, d.LinkTTL)
	def(&l.MaxLinks, d.MaxLinks)
	def(&l.LinkOpensPerMinute, d.LinkOpensPerMinute)
	def(&l.LinkOpenBurst, d.LinkOpenBurst)
	def(&l.QuotaRate, d.QuotaRate)
	def(&l.QuotaBurst, d.QuotaBurst)
	if l.QuotaBytesRate == 0 {
		l.QuotaBytesRate = d.QuotaBytesRate
	}
	if l.QuotaBytesBurst == 0 {
		l.QuotaBytesBurst = max(d.QuotaBytesBurst, int64(l.MaxEnvelope))
	}
	return l
}

// check reports every limit that cannot be announced or honoured
// (spec/relay.md §3.3 Hello rules, §6).
func (l Limits) check() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("relay: limits: "+format, args...))
	}
	pos32 := func(name string, v int) {
		if v <= 0 || v > math.MaxUint32 {
			bad("%s %d not in [1, 2^32-1]", name, v)
		}
	}
	pos32("MaxEnvelope", l.MaxEnvelope)
	pos32("MaxFrame", l.MaxFrame)
	pos32("MaxQueueCount", l.MaxQueueCount)
	pos32("SendsPerSecond", l.SendsPerSecond)
	pos32("SendBurst", l.SendBurst)
	pos32("DeliveryWindow", l.DeliveryWindow)
	pos32("MaxConnsPerIP", l.MaxConnsPerIP)
	if l.MaxFrame > 0 && l.MaxEnvelope > 0 && l.MaxFrame < l.MaxEnvelope+frameHeadroom {
		bad("MaxFrame %d leaves less than %d bytes above MaxEnvelope %d", l.MaxFrame, frameHeadroom, l.MaxEnvelope)
	}
	pos32("EphemeralPerSecond", l.EphemeralPerSecond)
	pos32("EphemeralBurst", l.EphemeralBurst)
	pos32("EphemeralPairRate", l.EphemeralPairRate)
	pos32("EphemeralPairBurst", l.EphemeralPairBurst)
	if l.MaxEphemeralEnvelope < 1 || l.MaxEphemeralEnvelope > min(l.MaxEnvelope, MaxEphemeralEnvelopeCap) {
		bad("MaxEphemeralEnvelope %d not in [1, min(MaxEnvelope, %d)]", l.MaxEphemeralEnvelope, MaxEphemeralEnvelopeCap)
	}
	if l.FirstContactPerHour > maxFirstContactPerHour {
		bad("FirstContactPerHour %d above %d", l.FirstContactPerHour, maxFirstContactPerHour)
	}
	if l.LinkTTL < time.Second || l.LinkTTL > 24*time.Hour || l.LinkTTL%time.Millisecond != 0 {
		bad("LinkTTL %v not a whole number of milliseconds in [1s, 24h]", l.LinkTTL)
	}
	pos32("MaxLinks", l.MaxLinks)
	pos32("LinkOpensPerMinute", l.LinkOpensPerMinute)
	pos32("LinkOpenBurst", l.LinkOpenBurst)
	if l.QuotaSharePercent < 1 || l.QuotaSharePercent > 100 {
		bad("QuotaSharePercent %d not in [1, 100]", l.QuotaSharePercent)
	}
	pos32("QuotaRate", l.QuotaRate)
	pos32("QuotaBurst", l.QuotaBurst)
	if l.QuotaShareRetry < time.Millisecond || l.QuotaShareRetry > time.Hour {
		bad("QuotaShareRetry %v not in [1ms, 1h]", l.QuotaShareRetry)
	}
	if l.ReconnectRate < 1 || l.ReconnectRate > 1_000_000 {
		bad("ReconnectRate %d not in [1, 1000000]", l.ReconnectRate)
	}
	if l.MaxReconnectWindow < minReconnectWindow || l.MaxReconnectWindow > wire.MaxHint {
		bad("MaxReconnectWindow %v not in [%v, %v]", l.MaxReconnectWindow, minReconnectWindow, wire.MaxHint)
	}
	if l.QuotaBytesRate <= 0 {
		bad("QuotaBytesRate %d not positive", l.QuotaBytesRate)
	}
	if l.QuotaBytesBurst < int64(l.MaxEnvelope) {
		bad("QuotaBytesBurst %d below MaxEnvelope %d", l.QuotaBytesBurst, l.MaxEnvelope)
	}
	if l.MaxQueueBytes <= 0 {
		bad("MaxQueueBytes %d not positive", l.MaxQueueBytes)
	}
	if l.TTL < time.Second || l.TTL%time.Second != 0 {
		bad("TTL %v is not a positive whole number of seconds", l.TTL)
	}
	if l.DedupWindow < time.Second {
		bad("DedupWindow %v under a second", l.DedupWindow)
	}
	ms32 := func(name string, d time.Duration) {
		if d < time.Millisecond || d.Milliseconds() > math.MaxUint32 {
			bad("%s %v not in [1ms, 2^32-1 ms]", name, d)
		}
	}
	ms32("HeartbeatInterval", l.HeartbeatInterval)
	ms32("IdleTimeout", l.IdleTimeout)
	if l.IdleTimeout < l.HeartbeatInterval {
		bad("IdleTimeout %v shorter than HeartbeatInterval %v", l.IdleTimeout, l.HeartbeatInterval)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"AuthTimeout", l.AuthTimeout}, {"WriteTimeout", l.WriteTimeout}, {"SweepInterval", l.SweepInterval}} {
		if d.v <= 0 {
			bad("%s %v not positive", d.name, d.v)
		}
	}
	return errors.Join(errs...)
}

// wire returns the limits announced in Hello.
func (l Limits) wire() *wire.Limits {
	return &wire.Limits{
		MaxEnvelope:    uint32(l.MaxEnvelope),
		MaxFrame:       uint32(l.MaxFrame),
		MaxQueueCount:  uint32(l.MaxQueueCount),
		MaxQueueBytes:  uint64(l.MaxQueueBytes),
		TtlSeconds:     uint64(l.TTL / time.Second),
		SendsPerSecond: uint32(l.SendsPerSecond),
		SendBurst:      uint32(l.SendBurst),
		DeliveryWindow: uint32(l.DeliveryWindow),

		MaxEphemeralEnvelope: uint32(l.MaxEphemeralEnvelope),
		EphemeralPerSecond:   uint32(l.EphemeralPerSecond),
		EphemeralBurst:       uint32(l.EphemeralBurst),
	}
}
