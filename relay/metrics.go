package relay

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealpost/sealpost/relay/wire"
)

// metrics are the relay's Prometheus metrics (spec/relay.md §13); a nil
// *metrics records nothing.
type metrics struct {
	connections prometheus.Gauge
	sends       prometheus.Counter
	stored      prometheus.Counter
	refusals    *prometheus.CounterVec // reason: a send status (no_mailbox, queue_full, too_large) or an error code (rate_limited, ...)
	deliveries  prometheus.Counter
	acks        prometheus.Counter
	drops       *prometheus.CounterVec   // reason: expired, outbound_full, ...
	storeTime   *prometheus.HistogramVec // op: open, send, fetch, ack, sweep
	revPolls    *prometheus.CounterVec   // outcome: ok, error
	revHeld     prometheus.Gauge
	revLastOK   prometheus.Gauge
	// Ephemeral items (spec/relay.md §7.4), one counter per outcome, made
	// once: an item costs one atomic add.
	ephReceived prometheus.Counter
	ephOutcomes [ephOutcomes]prometheus.Counter
	// Anonymous sends (spec/relay.md §15.6).
	anonSends     prometheus.Counter
	tokenRefusals *prometheus.CounterVec // reason: malformed, unknown_key, bad_signature, wrong_epoch, wrong_challenge
	doubleSpends  prometheus.Counter
	// Recipient access control (spec/relay.md §15.8).
	firstContacts prometheus.Counter
	accessSets    *prometheus.CounterVec // mode: open, contacts
	// Shared sends (spec/relay.md §16.6).
	sharedSends      prometheus.Counter
	sharedRecipients prometheus.Counter
	sharedBodyBytes  prometheus.Counter
	sharedEachBytes  prometheus.Counter
	// Push wake-ups (spec/push.md §3.5).
	push *pushMetrics
	// Link mailboxes (spec/relay.md §17.7).
	links       *prometheus.CounterVec // event: opened, reopened, closed, expired
	linkFetches *prometheus.CounterVec // result: found, none
}

// ephOutcome is what became of an ephemeral item (spec/relay.md §7.4).
type ephOutcome uint8

const (
	ephLocal     ephOutcome = iota // pushed to its recipient's connection here, from a sender here
	ephPublished                   // handed to the other nodes (store.EphemeralBus)
	ephRemote                      // from another node, pushed to its recipient's connection here
	ephTooLarge                    // dropped: over max_ephemeral_envelope
	ephRate                        // dropped: the sender's or the pair's bucket was empty
	ephOffline                     // dropped: the recipient is not connected here and no other node can be told
	ephCongested                   // dropped: the recipient's connection or the bus is backed up
	ephOutcomes
)

// ephLabels are the label values of the outcomes: delivered{path} for the
// first three, dropped{reason} for the others.
var ephLabels = [ephOutcomes]string{"local", "published", "remote", "too_large", "rate", "offline", "congested"}

func newMetrics(r prometheus.Registerer) (*metrics, error) {
	if r == nil {
		return nil, nil
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "sealpost", Subsystem: "relay", Name: name, Help: help})
	}
	m := &metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "sealpost", Subsystem: "relay", Name: "connections",
			Help: "Open relay WebSocket connections (authenticated or not).",
		}),
		sends:      counter("sends_total", "Send frames answered (including duplicates)."),
		stored:     counter("envelopes_stored_total", "Envelopes stored by answered sends."),
		deliveries: counter("deliveries_total", "Envelopes pushed to connections (redeliveries included)."),
		acks:       counter("acks_total", "Envelopes deleted by acks."),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sealpost", Subsystem: "relay", Name: "refusals_total",
			Help: "Refusals: per-recipient send statuses other than stored, and Error codes sent, by reason.",
		}, []string{"reason"}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sealpost", Subsystem: "relay", Name: "drops_total",
			Help: "Things dropped, by reason: expired (envelopes swept), outbound_full (frames not queued to a slow connection).",
		}, []string{"reason"}),
		storeTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "sealpost", Subsystem: "relay", Name: "store_seconds",
			Help:    "Latency of queue store operations, by operation.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5},
		}, []string{"op"}),
	}
	m.revPolls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "sealpost", Subsystem: "relay", Name: "revocation_polls_total",
		Help: "Reads of the key server's revocation feed, by outcome: ok, error (the feed did not answer or answered wrongly).",
	}, []string{"outcome"})
	m.revHeld = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "sealpost", Subsystem: "relay", Name: "revoked_devices",
		Help: "Revoked devices the relay refuses, those revoked within the longest token lifetime.",
	})
	m.revLastOK = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "sealpost", Subsystem: "relay", Name: "revocation_feed_last_success_seconds",
		Help: "Unix time of the last successful read of the revocation feed; 0 before the first.",
	})
	m.ephReceived = counter("ephemeral_received_total", "Ephemeral items received in SendEphemeral frames.")
	ephDelivered := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "sealpost", Subsystem: "relay", Name: "ephemeral_delivered_total",
		Help: "Ephemeral items passed on, by path: local (to a connection here), published (to the other nodes), remote (from another node to a connection here).",
	}, []string{"path"})
	ephDropped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "sealpost", Subsystem: "relay", Name: "ephemeral_dropped_total",
		Help: "Ephemeral items dropped, by reason: too_large, rate, offline, congested.",
	}, []string{"reason"})
	for o := range ephOutcomes {
		if o <= ephRemote {
			m.ephOutcomes[o] = ephDelivered.WithLabelValues(ephLabels[o])
		} else {
			m.ephOutcomes[o] = ephDropped.WithLabelValues(ephLabels[o])
		}
	}
	m.anonSends = counter("anonymous_sends_total", "Send frames answered on anonymous connections (including duplicates).")
	m.doubleSpends = counter("send_token_double_spends_total", "Anonymous sends whose send token was already spent: answered with the first answer as a duplicate.")
	m.tokenRefusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "sealpost", Subsystem: "relay", Name: "send_token_refusals_total",
		Help: "Send tokens refused by verification, by reason: malformed, unknown_key, bad_signature, wrong_epoch, wrong_challenge.",
	}, []string{"reason"})
	m.firstContacts = counter("first_contacts_total", "Unsolicited anonymous envelopes stored under their mailbox's first-contact allowance.")
	m.accessSets = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "sealpost", Subsystem: "relay", Name: "access_sets_total",
		Help: "SetAccess frames applied, by mode: open, contacts.",
	}, []string{"mode"})
	m.sharedSends = counter("shared_sends_total", "Shared sends (one body for many recipients) that stored at least one envelope.")
	m.sharedRecipients = counter("shared_recipients_total", "Envelopes stored by shared sends: references to their bodies.")
	m.sharedBodyBytes = counter("shared_body_bytes_total", "Bytes of the bodies shared sends stored, each once.")
	m.sharedEachBytes = counter("shared_recipient_bytes_total", "Bytes the same shared sends would have stored as one envelope per recipient.")
	m.push = newPushMetrics()
	m.links = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "sealpost", Subsystem: "relay", Name: "links_total",
		Help: "Link mailboxes by event: opened (created by AuthLink), reopened (AuthLink of a live one), closed (LinkClose), expired (swept).",
	}, []string{"event"})
	m.linkFetches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "sealpost", Subsystem: "relay", Name: "link_fetches_total",
		Help: "LinkFetch frames answered, by result: found (a live link mailbox), none.",
	}, []string{"result"})
	for _, c := range append([]prometheus.Collector{m.connections, m.sends, m.stored, m.refusals, m.deliveries, m.acks, m.drops, m.storeTime, m.revPolls, m.revHeld, m.revLastOK, m.ephReceived, ephDelivered, ephDropped, m.anonSends, m.doubleSpends, m.tokenRefusals, m.firstContacts, m.accessSets,
		m.sharedSends, m.sharedRecipients, m.sharedBodyBytes, m.sharedEachBytes, m.links, m.linkFetches}, m.push.collectors()...) {
		if err := r.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) conn(delta float64) {
	if m != nil {
		m.connections.Add(delta)
	}
}

func (m *metrics) send(stored int) {
	if m != nil {
		m.sends.Inc()
		m.stored.Add(float64(stored))
	}
}

func (m *metrics) refusal(reason string) {
	if m != nil {
		m.refusals.WithLabelValues(reason).Inc()
	}
}

func (m *metrics) delivered(n int) {
	if m != nil {
		m.deliveries.Add(float64(n))
	}
}

func (m *metrics) acked(n int) {
	if m != nil {
		m.acks.Add(float64(n))
	}
}

func (m *metrics) drop(reason string, n int) {
	if m != nil {
		m.drops.WithLabelValues(reason).Add(float64(n))
	}
}

func (m *metrics) store(op string, start time.Time) {
	if m != nil {
		m.storeTime.WithLabelValues(op).Observe(time.Since(start).Seconds())
	}
}

func (m *metrics) revocationPoll(ok bool) {
	if m == nil {
		return
	}
	if ok {
		m.revPolls.WithLabelValues("ok").Inc()
		m.revLastOK.Set(float64(time.Now().Unix()))
	} else {
		m.revPolls.WithLabelValues("error").Inc()
	}
}

func (m *metrics) revocations(n int) {
	if m != nil {
		m.revHeld.Set(float64(n))
	}
}

func (m *metrics) ephemeralReceived(n int) {
	if m != nil {
		m.ephReceived.Add(float64(n))
	}
}

func (m *metrics) ephemeral(o ephOutcome) {
	if m != nil {
		m.ephOutcomes[o].Inc()
	}
}

func (m *metrics) anonymousSend(duplicate bool) {
	if m != nil {
		m.anonSends.Inc()
		if duplicate {
			m.doubleSpends.Inc()
		}
	}
}

func (m *metrics) firstContact(n int) {
	if m != nil && n > 0 {
		m.firstContacts.Add(float64(n))
	}
}

func (m *metrics) accessSet(mode string) {
	if m != nil {
		m.accessSets.WithLabelValues(mode).Inc()
	}
}

func (m *metrics) tokenRefusal(reason string) {
	if m != nil {
		m.tokenRefusals.WithLabelValues(reason).Inc()
	}
}

// shared counts a new shared send's answer (spec/relay.md §16.6): its
// stored recipients, its body's bytes once, and what one envelope per
// recipient would have stored.
func (m *metrics) shared(statuses []wire.Status, body int) {
	if m == nil {
		return
	}
	n := 0
	for _, st := range statuses {
		if st == wire.Status_STATUS_STORED {
			n++
		}
	}
	if n == 0 {
		return
	}
	m.sharedSends.Inc()
	m.sharedRecipients.Add(float64(n))
	m.sharedBodyBytes.Add(float64(body))
	m.sharedEachBytes.Add(float64(n * body))
}

// pushMetrics count push wake-ups (spec/push.md §3.5).
type pushMetrics struct {
	wakes     *prometheus.CounterVec // kind: web_push, gateway; outcome: delivered, retry, failed, gone
	coalesced prometheus.Counter
	removed   *prometheus.CounterVec // reason: gone, failures, unsupported
	sets      *prometheus.CounterVec // kind, status
	drains    prometheus.Counter
}

func newPushMetrics() *pushMetrics {
	return &pushMetrics{
		wakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sealpost", Subsystem: "relay", Name: "wakeups_total",
			Help: "Wake-ups sent to push services, by kind (web_push, gateway) and outcome (delivered, retry, failed, gone).",
		}, []string{"kind", "outcome"}),
		coalesced: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "sealpost", Subsystem: "relay", Name: "wakeups_coalesced_total",
			Help: "Envelopes stored for a device already waiting for a wake-up: no second one.",
		}),
		removed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sealpost", Subsystem: "relay", Name: "push_registrations_removed_total",
			Help: "Push registrations the relay removed, by reason: gone (the push service said so), failures (too many in a row), unsupported (its kind or gateway is no longer configured).",
		}, []string{"reason"}),
		sets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sealpost", Subsystem: "relay", Name: "push_sets_total",
			Help: "SetPush frames answered, by kind (none, web_push, gateway) and status (ok, disabled, endpoint_refused, gateway_unknown).",
		}, []string{"kind", "status"}),
		drains: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "sealpost", Subsystem: "relay", Name: "drains_total",
			Help: "Drain frames answered with Drained.",
		}),
	}
}

func (p *pushMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{p.wakes, p.coalesced, p.removed, p.sets, p.drains}
}

func (m *metrics) wake(kind, outcome string) {
	if m != nil {
		m.push.wakes.WithLabelValues(kind, outcome).Inc()
	}
}

func (m *metrics) wakeCoalesced() {
	if m != nil {
		m.push.coalesced.Inc()
	}
}

func (m *metrics) pushRemoved(reason string) {
	if m != nil {
		m.push.removed.WithLabelValues(reason).Inc()
	}
}

func (m *metrics) pushSet(kind wire.PushKind, status wire.PushStatus) {
	if m != nil {
		m.push.sets.WithLabelValues(enumLabel(kind.String(), "PUSH_KIND_"), enumLabel(status.String(), "PUSH_STATUS_")).Inc()
	}
}

func (m *metrics) drained(n int) {
	if m != nil {
		m.push.drains.Add(float64(n))
	}
}

// enumLabel is the metric label of a protobuf enum value name: lower
// case, without its prefix.
func enumLabel(name, prefix string) string {
	return strings.ToLower(strings.TrimPrefix(name, prefix))
}

// link counts a link mailbox event (spec/relay.md §17.7).
func (m *metrics) link(event string, n int) {
	if m != nil && n > 0 {
		m.links.WithLabelValues(event).Add(float64(n))
	}
}

// linkFetch counts an answered LinkFetch.
func (m *metrics) linkFetch(found bool) {
	if m == nil {
		return
	}
	if found {
		m.linkFetches.WithLabelValues("found").Inc()
	} else {
		m.linkFetches.WithLabelValues("none").Inc()
	}
}
