package keyserver

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus metrics; a nil *metrics records
// nothing.
type metrics struct {
	requests *prometheus.CounterVec // route, status
	claims   *prometheus.CounterVec // outcome: one_time, exhausted, kem_one_time_only, x25519_one_time_only
	tokens   *prometheus.CounterVec // audience kind: keyserver, relay
	appends  prometheus.Counter
	// Directory (spec/transparency-v2.md): epochs this process
	// sequenced, and the handles they changed.
	epochs    prometheus.Counter
	sequenced prometheus.Counter
	// sendTokens counts the send tokens this process signed.
	sendTokens prometheus.Counter
}

func newMetrics(r prometheus.Registerer) (*metrics, error) {
	if r == nil {
		return nil, nil
	}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sealpost", Subsystem: "keyserver", Name: "requests_total",
			Help: "Key server requests by route and HTTP status.",
		}, []string{"route", "status"}),
		claims: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sealpost", Subsystem: "keyserver", Name: "claimed_bundles_total",
			Help: "Bundles handed out by claims, by which one-time prekeys they carried (exhausted: none, the signed and last-resort KEM prekeys served; seal_keys: by GET seal-keys, which takes nothing).",
		}, []string{"outcome"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sealpost", Subsystem: "keyserver", Name: "tokens_issued_total",
			Help: "Access tokens issued, by audience kind.",
		}, []string{"audience"}),
		appends: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "sealpost", Subsystem: "keyserver", Name: "log_appends_total",
			Help: "Transparency log leaves appended by this process.",
		}),
	}
	m.epochs = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "sealpost", Subsystem: "keyserver", Name: "directory_epochs_total",
		Help: "Key directory epochs sequenced by this process.",
	})
	m.sequenced = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "sealpost", Subsystem: "keyserver", Name: "directory_updates_total",
		Help: "Handles whose key set a directory epoch sequenced by this process changed.",
	})
	m.sendTokens = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "sealpost", Subsystem: "keyserver", Name: "send_tokens_issued_total",
		Help: "Send tokens blind-signed by this process (spec/keyserver.md §5.10).",
	})
	for _, c := range []prometheus.Collector{m.requests, m.claims, m.tokens, m.appends, m.epochs, m.sequenced, m.sendTokens} {
		if err := r.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) request(route string, status int) {
	if m != nil {
		m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	}
}

func (m *metrics) claim(outcome string) {
	if m != nil {
		m.claims.WithLabelValues(outcome).Inc()
	}
}

func (m *metrics) token(kind string) {
	if m != nil {
		m.tokens.WithLabelValues(kind).Inc()
	}
}

func (m *metrics) sendTokensIssued(n int) {
	if m != nil {
		m.sendTokens.Add(float64(n))
	}
}

func (m *metrics) appended() {
	if m != nil {
		m.appends.Inc()
	}
}

// epoch records a directory epoch this process sequenced and the handles
// it changed.
func (m *metrics) epoch(updates int) {
	if m != nil {
		m.epochs.Inc()
		m.sequenced.Add(float64(updates))
	}
}
