package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	blobsapi "github.com/sealpost/sealpost/blobs/api"
	"github.com/sealpost/sealpost/crypto/vrf"
	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/kt/directory"
	"github.com/sealpost/sealpost/keyserver/store"
	"github.com/sealpost/sealpost/keyserver/store/postgres"
	"github.com/sealpost/sealpost/keyserver/store/sqlite"
	"github.com/sealpost/sealpost/push/gateway"
	"github.com/sealpost/sealpost/relay"
	relaystore "github.com/sealpost/sealpost/relay/store"
	"github.com/sealpost/sealpost/relay/tokenkeys"
	"github.com/sealpost/sealpost/tlsconfig"
)

// HTTP server limits. WriteTimeout bounds a whole response; the key
// server's responses are small.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 16 << 10
	healthTimeout     = 3 * time.Second
)

// serve runs the configured services until ctx is done, then shuts them
// down gracefully: the relay stops accepting connections, answers the sends
// in flight and closes its connections with going-away; the listeners stop
// accepting and in-flight key server requests finish (all within
// cfg.ShutdownTimeout); then the key server and the stores close.
//
// Both services share the TLS listener: the relay serves the WebSocket
// path /v1/relay, the key server everything else. The relay's WebSockets
// outlive the http.Server's read and write timeouts: net/http clears a
// connection's deadlines when the WebSocket library hijacks it, and the
// relay sets its own (write timeout, idle timeout).
func serve(ctx context.Context, cfg *Config, log *slog.Logger, stdout io.Writer) (err error) {
	runKS, runRelay := cfg.services()
	runBlobs := cfg.blobsOn()
	if err := prepareDataDir(cfg.DataDir, log); err != nil {
		return err
	}
	cert, err := loadCertificate(cfg, log)
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	mux := http.NewServeMux()
	var checks []check
	sqliteUsed := false
	var stores []string

	var tokenKey, logKey ed25519.PrivateKey
	var ks *keyserver.Server
	if runKS {
		tokenKey, logKey, err = loadSigningKeys(cfg, log)
		if err != nil {
			return err
		}
		var st store.Store
		var engine string
		st, engine, err = openStore(ctx, cfg)
		if err != nil {
			return err
		}
		defer closeWith(&err, "closing the key server store", st.Close)
		kcfg := *cfg
		if runRelay && !slices.Contains(kcfg.RelayAudiences, relayAudience(cfg)) {
			kcfg.RelayAudiences = append(slices.Clone(kcfg.RelayAudiences), relayAudience(cfg))
		}
		// The blob service's tokens (spec/attachments.md §4.2), listed
		// with the relay's in the well-known document.
		if runBlobs && !slices.Contains(kcfg.RelayAudiences, blobsAudience(cfg)) {
			kcfg.RelayAudiences = append(slices.Clone(kcfg.RelayAudiences), blobsAudience(cfg))
		}
		var vrfKey *vrf.PrivateKey
		vrfKey, err = loadVRFKey(cfg, log)
		if err != nil {
			return err
		}
		defer vrfKey.Zero()
		ks, err = newKeyServer(&kcfg, st, tokenKey, logKey, vrfKey, log, reg)
		if err != nil {
			return err
		}
		defer closeWith(&err, "closing the key server", ks.Close)
		mux.Handle("/", ks.Handler())
		checks = append(checks, keyServerCheck(st))
		sqliteUsed = sqliteUsed || engine == "sqlite"
		stores = append(stores, "keyserver="+engine)
	}
	var rs *relay.Server
	var anonymousKeys string // where the relay reads the send-token keys
	if runRelay {
		var q relaystore.Queue
		var engine string
		q, engine, err = openRelayStore(ctx, cfg)
		if err != nil {
			return err
		}
		defer closeWith(&err, "closing the relay store", q.Close)
		// The revocation feed (spec/relay.md §2.4): the key server's in
		// this process, else over HTTPS.
		var revs relay.RevocationSource
		if ks != nil {
			revs = ks
		} else if revs, err = remoteRevocations(cfg); err != nil {
			return err
		} else if revs == nil {
			log.Warn("relay runs without the key server's revocation feed (--relay-keyserver-url off): a revoked device's token works until it expires")
		}
		// The send-token keys (spec/relay.md §15.9): the key server's in
		// this process, else its keys document over HTTPS.
		var sendTokens relay.SendTokenVerifier
		var stv *tokenkeys.Verifier
		stv, anonymousKeys, err = relaySendTokens(cfg, ks, log)
		if err != nil {
			return err
		}
		if stv != nil {
			sendTokens = stv
			kctx, stopKeys := context.WithCancel(context.Background())
			keysDone := make(chan struct{})
			go func() { defer close(keysDone); stv.Run(kctx) }()
			// Before the key server closes (defers run last first).
			defer func() { stopKeys(); <-keysDone }()
		} else {
			log.Info("relay refuses anonymous connections (anonymous_disabled): no send-token keys (--relay-anonymous=false, or the relay alone with --relay-keyserver-url off)")
		}
		rs, err = newRelay(cfg, q, relayTokenKeys(cfg, tokenKey), revs, sendTokens, log, reg)
		if err != nil {
			return err
		}
		mux.Handle(relay.Path, rs.Handler())
		mux.Handle("GET "+relay.InfoPath, rs.Handler()) // spec/push.md §2.1
		checks = append(checks, check{"relay_store", func(ctx context.Context) error { return relayHealthy(ctx, q) }})
		sqliteUsed = sqliteUsed || engine == "sqlite"
		stores = append(stores, "relay="+engine)
	}
	if runBlobs {
		var bs *blobService
		var engines string
		bs, engines, err = startBlobs(ctx, cfg, tokenKey, log, reg)
		if err != nil {
			return err
		}
		// Closed after the listeners have shut down (defers run last
		// first): uploads in flight finish first.
		defer closeWith(&err, "closing the blob service", bs.close)
		if cfg.Postgres != "" && !cfg.blobsS3() {
			log.Warn("blob service keeps its bytes on this node's disk: nodes sharing the PostgreSQL database must share an S3 bucket instead (--blobs-s3-endpoint)", "dir", filepath.Join(cfg.DataDir, blobsDir))
		}
		mux.Handle(blobsapi.Prefix, bs.srv)
		checks = append(checks, check{"blobs_store", bs.healthy})
		sqliteUsed = sqliteUsed || strings.HasPrefix(engines, "sqlite") || strings.HasSuffix(engines, "+fs")
		stores = append(stores, "blobs="+engines)
	}
	var pushgwProviders string
	if cfg.pushgwOn() {
		var gw *gateway.Server
		if gw, pushgwProviders, err = startPushgw(cfg, log); err != nil {
			return err
		}
		mux.Handle(gateway.WakePath, gw)
	}

	if cfg.Web != "" {
		wh, err := newWebHandler(cfg.Web)
		if err != nil {
			return err
		}
		defer wh.Close()
		mux.Handle(webPrefix, wh)
		mux.HandleFunc("GET /{$}", webRedirect)
	}

	if sqliteUsed {
		checks = append(checks, freeDiskCheck(cfg.DataDir, cfg.MinFreeDisk))
	}
	// Health on both listeners; /metrics and /debug/pprof/ only on the
	// admin one (admin.go): on the public listener they fall to the key
	// server's not_found, or the mux's 404 for the relay alone.
	healthz, readyz := healthzHandler(), readyzHandler(checks, log)
	mux.Handle("GET /healthz", healthz)
	mux.Handle("GET /readyz", readyz)

	tlsCfg, err := tlsconfig.ServerConfig(cert)
	if err != nil {
		return err
	}
	srv := newHTTPServer(mux, log)
	srv.TLSConfig = tlsCfg
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listener: %w", err)
	}
	servers := []*http.Server{srv}
	errc := make(chan error, 2)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()

	if cfg.AdminListen != "" {
		metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
		asrv, err := startAdmin(cfg.AdminListen, adminMux(metrics, healthz, readyz), log, stdout, errc)
		if err != nil {
			srv.Close()
			return err
		}
		servers = append(servers, asrv)
	}

	fp := tlsconfig.FingerprintOf(cert.Certificate[0])
	attrs := []any{"addr", ln.Addr().String(), "name", cfg.Name, "services", cfg.Services,
		"stores", strings.Join(stores, ","), "data_dir", cfg.DataDir, "tls_fingerprint_sha256", fp.String()}
	if runKS {
		// Clients verify the key directory (spec/transparency-v2.md):
		// its log's verifier key is the trust root they are given.
		vkey, err := directory.VerifierKey(cfg.Name, logKey.Public().(ed25519.PublicKey))
		if err != nil {
			srv.Close()
			return fmt.Errorf("log verifier key: %w", err)
		}
		if err := writePublicFile(filepath.Join(cfg.DataDir, logVerifierFile), []byte(vkey+"\n")); err != nil {
			srv.Close()
			return fmt.Errorf("log verifier key: %w", err)
		}
		attrs = append(attrs, "invite_only", cfg.InviteOnly, "log_verifier_key", vkey)
		fmt.Fprintf(stdout, "sealpostd: key server listening on https://%s\n", ln.Addr())
		fmt.Fprintf(stdout, "sealpostd: transparency log verifier key: %s\n", vkey)
	}
	if runRelay {
		attrs = append(attrs, "relay_audience", relayAudience(cfg), "relay_revocation_feed", revocationFeedName(cfg, runKS), "relay_send_token_keys", anonymousKeys)
		fmt.Fprintf(stdout, "sealpostd: relay listening on wss://%s%s (token audience %s)\n", ln.Addr(), relay.Path, relayAudience(cfg))
	}
	if runBlobs {
		attrs = append(attrs, "blobs_audience", blobsAudience(cfg))
		fmt.Fprintf(stdout, "sealpostd: blob service listening on https://%s%s (token audience %s)\n", ln.Addr(), blobsapi.Prefix, blobsAudience(cfg))
	}
	if cfg.pushgwOn() {
		attrs = append(attrs, "pushgw_providers", pushgwProviders)
		fmt.Fprintf(stdout, "sealpostd: push gateway listening on https://%s%s\n", ln.Addr(), gateway.WakePath)
	}
	if cfg.Web != "" {
		attrs = append(attrs, "web", cfg.Web)
		fmt.Fprintf(stdout, "sealpostd: web client at https://%s%s\n", ln.Addr(), webPrefix)
	}
	log.Info("sealpostd started", attrs...)
	fmt.Fprintf(stdout, "sealpostd: TLS certificate SHA-256 fingerprint: %s\n", fp)

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "timeout", cfg.shutdownTimeout().String())
	case serveErr = <-errc:
		log.Error("listener failed, shutting down", "err", serveErr)
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout())
	defer cancel()
	if rs != nil {
		// Hijacked WebSockets are not the http.Server's: the relay closes
		// them itself, after answering the sends in flight.
		if err := rs.Shutdown(sctx); err != nil {
			log.Warn("relay shutdown cut off at shutdown timeout", "err", err)
		}
	}
	for _, s := range servers {
		if err := s.Shutdown(sctx); err != nil {
			log.Warn("in-flight requests cut off at shutdown timeout", "err", err)
			s.Close()
		}
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return nil
}

// newHTTPServer returns an http.Server with sealpostd's timeouts and
// limits, logging its own errors (TLS handshake failures and the like)
// through log.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelInfo),
	}
}

// loadCertificate returns the configured certificate, or the self-signed
// one in the data directory, generated on first start.
func loadCertificate(cfg *Config, log *slog.Logger) (tls.Certificate, error) {
	var cert tls.Certificate
	var err error
	if cfg.TLSCert != "" {
		cert, err = tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return cert, fmt.Errorf("TLS certificate: %w", err)
		}
	} else {
		var created bool
		cert, created, err = tlsconfig.LoadOrCreate(cfg.DataDir, []string{cfg.Name})
		if err != nil {
			return cert, err
		}
		if created {
			log.Info("generated self-signed TLS certificate", "dir", cfg.DataDir)
		}
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return cert, fmt.Errorf("TLS certificate: %w", err)
		}
	}
	if err := leaf.VerifyHostname(cfg.Name); err != nil {
		log.Warn("TLS certificate does not name the server; clients that check names will refuse it (pinning clients do not)", "name", cfg.Name)
	}
	if now := time.Now(); now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		log.Warn("TLS certificate is not valid now", "not_before", leaf.NotBefore, "not_after", leaf.NotAfter)
	}
	return cert, nil
}

// loadVRFKey returns the key directory's VRF key from the data directory,
// generating it on the first start that needs it (also in a data
// directory made before there was one).
func loadVRFKey(cfg *Config, log *slog.Logger) (*vrf.PrivateKey, error) {
	key, err := loadOrCreateKey(filepath.Join(cfg.DataDir, vrfKeyFile), log)
	if err != nil {
		return nil, fmt.Errorf("VRF key: %w", err)
	}
	seed := key.Seed()
	defer clear(seed)
	clear(key)
	k, err := vrf.NewPrivateKey(seed)
	if err != nil {
		return nil, fmt.Errorf("VRF key: %w", err)
	}
	return k, nil
}

// loadSigningKeys returns the token and log signing keys from the data
// directory, generating each on first start.
func loadSigningKeys(cfg *Config, log *slog.Logger) (tokenKey, logKey ed25519.PrivateKey, err error) {
	tokenKey, err = loadOrCreateKey(filepath.Join(cfg.DataDir, tokenKeyFile), log)
	if err != nil {
		return nil, nil, fmt.Errorf("token signing key: %w", err)
	}
	logKey, err = loadOrCreateKey(filepath.Join(cfg.DataDir, logKeyFile), log)
	if err != nil {
		return nil, nil, fmt.Errorf("log signing key: %w", err)
	}
	return tokenKey, logKey, nil
}

// openStore opens PostgreSQL if configured, else SQLite in the data
// directory, and names the engine.
func openStore(ctx context.Context, cfg *Config) (store.Store, string, error) {
	if cfg.Postgres != "" {
		st, err := postgres.Open(ctx, cfg.Postgres)
		if err != nil {
			return nil, "", fmt.Errorf("opening PostgreSQL: %w", err)
		}
		return st, "postgres", nil
	}
	path := filepath.Join(cfg.DataDir, sqliteFile)
	st, err := sqlite.Open(path)
	if err != nil {
		return nil, "", fmt.Errorf("opening SQLite %s: %w", path, err)
	}
	return st, "sqlite", nil
}

// newKeyServer returns the key server of cfg; a nil vrfKey runs it without
// the key directory (no sequencer), as the invite command does.
func newKeyServer(cfg *Config, st store.Store, tokenKey, logKey ed25519.PrivateKey, vrfKey *vrf.PrivateKey, log *slog.Logger, reg prometheus.Registerer) (*keyserver.Server, error) {
	witnesses, err := cfg.witnesses()
	if err != nil {
		return nil, err
	}
	ks, err := keyserver.New(keyserver.Config{
		Name:              cfg.Name,
		Store:             st,
		TokenKey:          tokenKey,
		LogKey:            logKey,
		RelayAudiences:    cfg.RelayAudiences,
		InviteOnly:        cfg.InviteOnly,
		CheckpointRefresh: cfg.checkpointRefresh(),
		Witnesses:         witnesses,
		VRFKey:            vrfKey,
		EpochInterval:     cfg.epochInterval(),
		Limits: keyserver.Limits{
			TargetClaimsPerHour:     cfg.KeyServerTargetClaims,
			UploadsPerHour:          cfg.KeyServerUploads,
			LookupsPerSecond:        cfg.KeyServerLookupRate,
			AddressLookupsPerSecond: cfg.KeyServerAddressLookupRate,
			SendTokensPerEpoch:      cfg.KeyServerSendTokensPerDay,
			SendTokenBatch:          cfg.KeyServerSendTokenBatch,
		},
		Logger:     log.With("service", "keyserver"),
		Registerer: reg,
	})
	if err != nil {
		return nil, fmt.Errorf("key server: %w", err)
	}
	return ks, nil
}

// closeWith calls close and, if it fails, sets *err unless it is already
// set.
func closeWith(err *error, what string, close func() error) {
	if cerr := close(); cerr != nil && *err == nil {
		*err = fmt.Errorf("%s: %w", what, cerr)
	}
}
