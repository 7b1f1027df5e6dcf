package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealpost/sealpost/relay"
	"github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/store/postgres"
	"github.com/sealpost/sealpost/relay/store/sqlite"
	"github.com/sealpost/sealpost/tlsconfig"
)

// selfRelay is a relay started in-process by --self.
type selfRelay struct {
	target
	srv   *relay.Server
	hs    *http.Server
	queue store.Queue
	dir   string

	cfg  relay.Config
	tcfg *tls.Config
	addr string

	push *pushBench // --push: the push service and the relay's metrics
}

// startSelf starts a relay on a temporary store (a SQLite file in a new
// temporary directory, or the --postgres database), with a self-signed
// certificate and a fresh token key, and limits that do not get in the
// load's way (rate, connections per IP, queue size).
func startSelf(ctx context.Context, o *options, stderr io.Writer) (_ *selfRelay, err error) {
	s := &selfRelay{}
	s.dir, err = os.MkdirTemp("", "sealpost-bench")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.close(context.Background())
		}
	}()
	switch o.self {
	case "sqlite":
		s.queue, err = sqlite.Open(filepath.Join(s.dir, "relay.db"))
	case "postgres":
		s.queue, err = postgres.Open(ctx, o.postgres)
	}
	if err != nil {
		return nil, fmt.Errorf("opening the %s store: %w", o.self, err)
	}
	cert, _, err := tlsconfig.LoadOrCreate(s.dir, nil)
	if err != nil {
		return nil, err
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	lim := selfLimits()
	s.cfg = relay.Config{
		Name:      o.name,
		Queue:     s.queue,
		TokenKeys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)},
		Limits:    lim,
		Logger:    slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if o.push > 0 {
		// --push: the relay wakes offline devices through the in-process
		// push service (push.go) and counts its wake-ups.
		s.push = &pushBench{reg: prometheus.NewRegistry()}
		if s.push.sink, err = startSink(o.pushLatency, o.pushHang); err != nil {
			return nil, fmt.Errorf("starting the push service: %w", err)
		}
		if s.cfg.Push, err = pushConfig(o, s.push.sink); err != nil {
			return nil, err
		}
		s.cfg.Registerer = s.push.reg
	}
	if s.tcfg, err = tlsconfig.ServerConfig(cert); err != nil {
		return nil, err
	}
	s.addr = "127.0.0.1:0"
	if err := s.serve(); err != nil {
		return nil, err
	}
	s.target = target{
		url:      "wss://" + s.addr + relay.Path,
		tls:      tlsconfig.ClientConfig(tlsconfig.FingerprintOf(cert.Certificate[0])),
		key:      key,
		audience: "relay:" + o.name,
	}
	return s, nil
}

// selfLimits are the limits of the tool's own relay: none gets in the
// load's way (rate, connections per IP, queue size, pacing).
func selfLimits() relay.Limits {
	lim := relay.DefaultLimits()
	lim.SendsPerSecond = 1_000_000
	lim.SendBurst = 1_000_000
	lim.MaxConnsPerIP = 10_000_000
	lim.MaxQueueCount = 10_000_000
	lim.MaxQueueBytes = 1 << 40
	// Quotas account every envelope (spec/relay.md §6.1) but refuse none:
	// a load test sends far more from one account to another than a
	// person would. The share stays at its default (10% of the caps
	// above).
	lim.QuotaRate, lim.QuotaBurst = 1<<30, 1<<30
	lim.QuotaBytesRate, lim.QuotaBytesBurst = 1<<50, 1<<50
	// Upgrades are admitted as fast as they come (--herd sets the rate it
	// measures, spec/relay.md §2.5).
	lim.ReconnectRate = 1_000_000
	// Ephemeral items (spec/relay.md §7.4, --ephemeral): the buckets per
	// sender and per pair far above what the load sends.
	lim.EphemeralPerSecond, lim.EphemeralBurst = 1<<30, 1<<30
	lim.EphemeralPairRate, lim.EphemeralPairBurst = 1<<30, 1<<30
	return lim
}

// serve starts a relay.Server on s's store and serves it on s.addr (the
// address the last one had, once there was one).
func (s *selfRelay) serve() error {
	srv, err := relay.New(s.cfg)
	if err != nil {
		return err
	}
	hs, ln, err := serveRelay(srv, s.addr, s.tcfg, nil)
	if err != nil {
		return err
	}
	s.addr = ln.Addr().String()
	s.srv, s.hs = srv, hs
	return nil
}

// serveRelay serves srv over TLS on addr — the address a relay that was
// just stopped had, whose port may take a moment to free — and returns
// the HTTP server and its listener; a non-nil ks (a key server) serves
// every other path. On error it shuts srv down.
func serveRelay(srv *relay.Server, addr string, tcfg *tls.Config, ks http.Handler) (*http.Server, net.Listener, error) {
	var ln net.Listener
	var err error
	for range 200 {
		if ln, err = net.Listen("tcp", addr); !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		srv.Shutdown(context.Background())
		return nil, nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(relay.Path, srv.Handler())
	if ks != nil {
		mux.Handle("/", ks)
	}
	hs := &http.Server{Handler: mux, TLSConfig: tcfg, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(slog.NewTextHandler(io.Discard, nil), slog.LevelInfo)}
	go hs.ServeTLS(ln, "", "")
	return hs, ln, nil
}

func (s *selfRelay) close(ctx context.Context) error {
	var errs []error
	if s.push != nil && s.push.sink != nil {
		s.push.sink.release()
	}
	if s.srv != nil {
		errs = append(errs, s.srv.Shutdown(ctx))
	}
	if s.hs != nil {
		errs = append(errs, s.hs.Shutdown(ctx))
	}
	if s.push != nil && s.push.sink != nil {
		s.push.sink.close()
	}
	if s.queue != nil {
		errs = append(errs, s.queue.Close())
	}
	errs = append(errs, os.RemoveAll(s.dir))
	return errors.Join(errs...)
}
