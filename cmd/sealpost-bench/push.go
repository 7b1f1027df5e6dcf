package main

// --push N (with --self): does waking offline devices slow envelope
// storage? (issue 18; spec/push.md §3: a Send only notes its offline
// recipients, the wake-ups go out from the relay's background workers.)
//
// Before the timed part the tool connects N more devices, registers a Web
// Push subscription for each (SetPush, spec/push.md §2.2) and disconnects
// them; during the load every Send carries one more item, to a random one
// of those offline devices, so that every Send stores an envelope the
// relay owes a wake-up for. The push service is an in-process HTTPS
// server (its own self-signed certificate, which the relay's sender
// trusts) that answers 201 Created to every wake-up and counts them,
// optionally after --push-latency, or never (--push-hang of them hang
// until the relay gives up). --push-register=false is the control: the
// same devices and envelopes, no registrations, so no wake-ups.

import (
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealpost/sealpost/push/egress"
	"github.com/sealpost/sealpost/push/webpush"
	"github.com/sealpost/sealpost/relay"
	"github.com/sealpost/sealpost/relay/wire"
)

// pushReport is the --push part of the report.
type pushReport struct {
	Offline    int     `json:"offline_devices"`
	Registered bool    `json:"registered"`
	Interval   float64 `json:"interval_seconds"`
	Latency    float64 `json:"push_latency_ms"`
	Hang       float64 `json:"push_hang"`

	RegisterSeconds float64 `json:"register_seconds"`
	// OfflineStored are the load's envelopes for the offline devices
	// (one per Send) answered stored; OfflineRefused those answered
	// otherwise.
	OfflineStored  int64 `json:"offline_stored"`
	OfflineRefused int64 `json:"offline_not_stored"`

	// What the push service received: during the load (from the first
	// Send to the last ack), and in all by the end of the run.
	WakeupsDuringLoad int64   `json:"wakeups_during_load"`
	WakeupsPerSecond  float64 `json:"wakeups_per_second"`
	Wakeups           int64   `json:"wakeups"`
	Devices           int     `json:"devices_woken"`
	Hung              int64   `json:"wakeups_hung"`
	Bad               int64   `json:"bad_requests"`

	// The relay's own counts (spec/push.md §3.5).
	RelayWakeups   map[string]float64 `json:"relay_wakeups,omitempty"` // by outcome
	RelayCoalesced float64            `json:"relay_wakeups_coalesced"`
	// RelayStore is the relay's store calls over the run, by operation
	// (sealpost_relay_store_seconds): where the wake-ups' own store work
	// (claim_wakes, wake_done ...) shows beside the envelopes'.
	RelayStore map[string]storeOps `json:"relay_store,omitempty"`
}

// storeOps are the calls of one store operation and their mean duration.
type storeOps struct {
	Count  uint64  `json:"count"`
	MeanMs float64 `json:"mean_ms"`
}

// pushSink is the push service: POST /push/<i> answered 201 Created.
type pushSink struct {
	url     string // https://127.0.0.1:port/push/
	pool    *x509.CertPool
	hs      *http.Server
	latency time.Duration
	hang    float64
	stop    chan struct{} // closed to release hanging requests

	requests atomic.Int64
	hung     atomic.Int64
	bad      atomic.Int64
	mu       sync.Mutex
	woken    map[int]bool
}

// startSink starts the push service on 127.0.0.1 with TLS 1.3 and a
// fresh self-signed certificate, which pool trusts.
func startSink(latency time.Duration, hang float64) (*pushSink, error) {
	cert, err := sinkCert()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &pushSink{latency: latency, hang: hang, stop: make(chan struct{}), woken: make(map[int]bool),
		pool: x509.NewCertPool(), url: "https://" + ln.Addr().String() + "/push/"}
	s.pool.AddCert(cert.Leaf)
	s.hs = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}},
		ErrorLog:  slog.NewLogLogger(slog.NewTextHandler(io.Discard, nil), slog.LevelInfo)}
	go s.hs.ServeTLS(ln, "", "")
	return s, nil
}

// sinkCert returns a self-signed ECDSA P-256 certificate for 127.0.0.1.
func sinkCert() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "sealpost-bench push service"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// ServeHTTP takes one wake-up (spec/push.md §4.7: an aes128gcm body and a
// VAPID Authorization); anything else is a bad request, counted. The body
// is read, not decrypted: the sink should leave the CPU to the relay.
func (s *pushSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/push/"))
	if r.Method != http.MethodPost || err != nil || !strings.HasPrefix(r.URL.Path, "/push/") ||
		r.Header.Get("Content-Encoding") != "aes128gcm" || !strings.HasPrefix(r.Header.Get("Authorization"), "vapid ") {
		s.bad.Add(1)
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if _, err := io.Copy(io.Discard, io.LimitReader(r.Body, 8<<10)); err != nil {
		s.bad.Add(1)
		return
	}
	if s.hang > 0 && mrand.Float64() < s.hang {
		select {
		case <-s.stop:
		default:
			s.hung.Add(1)
		}
		select {
		case <-r.Context().Done():
		case <-s.stop:
			// Released (close): the connection is cut, a failure the
			// relay retries, not a delivery.
			panic(http.ErrAbortHandler)
		}
		return
	}
	if s.latency > 0 {
		select {
		case <-time.After(s.latency):
		case <-r.Context().Done():
			return
		}
	}
	s.requests.Add(1)
	s.mu.Lock()
	s.woken[id] = true
	s.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
}

// release ends the hanging requests and every later one that would hang,
// before the relay shuts down: relay.Server.Shutdown waits for its
// wake-up workers, and a hanging one ends only at PushConfig.Timeout.
func (s *pushSink) release() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
}

func (s *pushSink) close() {
	s.release()
	s.hs.Close()
}

// pushConfig is the relay's wake-up configuration for the sink: a Web
// Push sender with a fresh VAPID key whose client trusts the sink's
// certificate and may reach 127.0.0.1.
func pushConfig(o *options, sink *pushSink) (*relay.PushConfig, error) {
	key, err := webpush.GenerateVAPIDKey()
	if err != nil {
		return nil, err
	}
	sender, err := webpush.NewSender(webpush.SenderConfig{Key: key, Subject: "mailto:bench@localhost",
		Client: egress.NewClient(egress.Config{AllowPrivate: true, RootCAs: sink.pool})})
	if err != nil {
		return nil, err
	}
	return &relay.PushConfig{
		WebPush:        relay.WebPushWaker(sender, time.Hour),
		CheckEndpoint:  func(u string) error { return egress.CheckURL(u, true) },
		VAPIDPublicKey: key.PublicKey(),
		Interval:       o.pushInterval,
	}, nil
}

// registerOffline connects the n offline devices prefix-0 ..., registers a
// Web Push subscription at the sink for each if register (real P-256 keys
// and 16 random auth bytes; spec/push.md §2.2), and disconnects them. It
// returns their addresses.
func registerOffline(ctx context.Context, o *options, tg *target, prefix string, sinkURL string, rep *report) ([][]byte, error) {
	n := o.push
	addrs := make([][]byte, n)
	var mu sync.Mutex
	var errs []error
	sem := make(chan struct{}, o.dialConc)
	var wg sync.WaitGroup
	for i := range n {
		handle := fmt.Sprintf("%s-%d", prefix, i)
		addrs[i] = wire.FormatAddress(handle, 1)
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			err := registerOne(ctx, tg, handle, sinkURL+strconv.Itoa(i), o.pushRegister)
			if err != nil {
				rep.addError("push register: " + errKind(err))
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, fmt.Errorf("registering %d offline devices (%d failed): %w", n, len(errs), errs[0])
	}
	return addrs, nil
}

// registerOne connects handle's device, sends SetPush (if register) and
// waits for PushSet ok, and disconnects.
func registerOne(ctx context.Context, tg *target, handle, endpoint string, register bool) error {
	tok, err := mint(tg, handle)
	if err != nil {
		return err
	}
	var c *lconn
	if err := paced(ctx, func(dctx context.Context) (err error) {
		c, err = dialLoad(dctx, tg.url, tg.tls, tok)
		return err
	}); err != nil {
		return err
	}
	defer c.close()
	if !register {
		return nil
	}
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	auth := make([]byte, wire.PushAuthSize)
	rand.Read(auth)
	frame, err := wire.Encode(&wire.Frame{Body: &wire.Frame_SetPush{SetPush: &wire.SetPush{
		Kind: wire.PushKind_PUSH_KIND_WEB_PUSH, Endpoint: endpoint, P256Dh: priv.PublicKey().Bytes(), Auth: auth}}})
	if err != nil {
		return err
	}
	c.tc.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.tc.Write(c.appendWS(nil, opBinary, frame)); err != nil {
		return err
	}
	for {
		op, p, err := c.readWS(nil)
		if err != nil {
			return err
		}
		if op != opBinary {
			continue
		}
		f, err := wire.Decode(p, max(c.maxFrame, wire.DefaultMaxFrame))
		if err != nil {
			return err
		}
		switch b := f.Body.(type) {
		case *wire.Frame_PushSet:
			if s := b.PushSet.Status; s != wire.PushStatus_PUSH_STATUS_OK {
				return fmt.Errorf("sealpost-bench: SetPush answered %v", s)
			}
			return nil
		case *wire.Frame_Error:
			return fmt.Errorf("sealpost-bench: SetPush: relay error %v", b.Error.Code)
		}
	}
}

// relayPushMetrics reads the relay's wake-up counts (spec/push.md §3.5)
// from reg into pr.
func relayPushMetrics(reg *prometheus.Registry, pr *pushReport) error {
	mfs, err := reg.Gather()
	if err != nil {
		return err
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "sealpost_relay_wakeups_total":
			pr.RelayWakeups = map[string]float64{}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "outcome" {
						pr.RelayWakeups[l.GetValue()] += m.GetCounter().GetValue()
					}
				}
			}
		case "sealpost_relay_store_seconds":
			pr.RelayStore = map[string]storeOps{}
			for _, m := range mf.GetMetric() {
				h := m.GetHistogram()
				for _, l := range m.GetLabel() {
					if l.GetName() == "op" && h.GetSampleCount() > 0 {
						pr.RelayStore[l.GetValue()] = storeOps{Count: h.GetSampleCount(), MeanMs: h.GetSampleSum() * 1000 / float64(h.GetSampleCount())}
					}
				}
			}
		case "sealpost_relay_wakeups_coalesced_total":
			for _, m := range mf.GetMetric() {
				pr.RelayCoalesced += m.GetCounter().GetValue()
			}
		}
	}
	return nil
}

// pushBench is --push's state across the run: the sink and the relay's
// registry (self.go), the offline devices' addresses.
type pushBench struct {
	sink    *pushSink
	reg     *prometheus.Registry
	offline [][]byte
}

func (p *pushBench) finish(rep *pushReport, loadStart, loadEnd time.Time, atEnd int64) {
	rep.WakeupsDuringLoad = atEnd
	if d := loadEnd.Sub(loadStart).Seconds(); d > 0 {
		rep.WakeupsPerSecond = float64(atEnd) / d
	}
	// The relay's counts first: it counts a wake-up once the push
	// service has answered, which counts it before answering, so read in
	// this order the relay's delivered never exceeds the service's count
	// even while wake-ups still go out.
	if err := relayPushMetrics(p.reg, rep); err != nil {
		rep.RelayWakeups = nil
	}
	rep.Wakeups = p.sink.requests.Load()
	rep.Hung = p.sink.hung.Load()
	rep.Bad = p.sink.bad.Load()
	p.sink.mu.Lock()
	rep.Devices = len(p.sink.woken)
	p.sink.mu.Unlock()
}

var errPushFlags = errors.New("--push: needs --self, not with --herd, --ephemeral, --anonymous, --compare-anonymous or --shared")

func (p *pushReport) print(w io.Writer) {
	reg := "registered"
	if !p.Registered {
		reg = "not registered (control)"
	}
	fmt.Fprintf(w, "offline devices  %d, %s in %.2fs; wake-up interval %vs, push service latency %vms, hang %g\n",
		p.Offline, reg, p.RegisterSeconds, p.Interval, p.Latency, p.Hang)
	fmt.Fprintf(w, "offline stored   %d (not stored %d), one per Send\n", p.OfflineStored, p.OfflineRefused)
	fmt.Fprintf(w, "wake-ups         %d during the load (%.0f/s), %d by the end, %d devices; hung %d, bad %d\n",
		p.WakeupsDuringLoad, p.WakeupsPerSecond, p.Wakeups, p.Devices, p.Hung, p.Bad)
	if p.RelayWakeups != nil {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(p.RelayWakeups)) {
			parts = append(parts, fmt.Sprintf("%s %.0f", k, p.RelayWakeups[k]))
		}
		fmt.Fprintf(w, "relay wake-ups   %s; coalesced %.0f\n", strings.Join(parts, ", "), p.RelayCoalesced)
	}
	if len(p.RelayStore) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(p.RelayStore)) {
			parts = append(parts, fmt.Sprintf("%s %d (%.2f ms)", k, p.RelayStore[k].Count, p.RelayStore[k].MeanMs))
		}
		fmt.Fprintf(w, "relay store      %s\n", strings.Join(parts, ", "))
	}
}
