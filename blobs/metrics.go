package blobs

import "github.com/prometheus/client_golang/prometheus"

// metrics are the blob service's Prometheus metrics. Without a Registerer
// they are recorded into a registry no one reads.
type metrics struct {
	started    prometheus.Counter
	completed  prometheus.Counter
	failed     *prometheus.CounterVec // reason: digest_mismatch, aborted, timeout, store, cancelled, expired
	downloads  prometheus.Counter
	bytesIn    prometheus.Counter
	bytesOut   prometheus.Counter
	inProgress prometheus.Gauge
	quota      prometheus.Counter
	dedup      prometheus.Counter
	swept      *prometheus.CounterVec // kind: blob, upload
}

func newMetrics(r prometheus.Registerer) (*metrics, error) {
	if r == nil {
		r = prometheus.NewRegistry()
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "sealpost", Subsystem: "blobs", Name: name, Help: help})
	}
	m := &metrics{
		started:   counter("uploads_started_total", "Uploads created (dedup hits not included)."),
		completed: counter("uploads_completed_total", "Uploads turned into blobs."),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sealpost", Subsystem: "blobs", Name: "uploads_failed_total",
			Help: "Parts not stored (timeout, aborted, store) and uploads dropped (digest_mismatch, cancelled), by reason.",
		}, []string{"reason"}),
		downloads: counter("downloads_total", "Blob downloads answered (200 or 206)."),
		bytesIn:   counter("bytes_received_total", "Part bytes stored."),
		bytesOut:  counter("bytes_sent_total", "Blob bytes sent to downloads."),
		inProgress: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "sealpost", Subsystem: "blobs", Name: "uploads_in_progress",
			Help: "Uploads receiving and storing a part now.",
		}),
		quota: counter("quota_refusals_total", "Creates refused with quota_exceeded."),
		dedup: counter("dedup_hits_total", "Creates answered with a blob the account already held."),
		swept: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sealpost", Subsystem: "blobs", Name: "swept_total",
			Help: "Expired blobs and uploads deleted by the sweeper, by kind.",
		}, []string{"kind"}),
	}
	for _, c := range []prometheus.Collector{m.started, m.completed, m.failed, m.downloads, m.bytesIn, m.bytesOut, m.inProgress, m.quota, m.dedup, m.swept} {
		if err := r.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) add(c prometheus.Counter, n int64) {
	if n > 0 {
		c.Add(float64(n))
	}
}
