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
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sealpost/sealpost/internal/tlsconfig"
	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/kt"
	"github.com/sealpost/sealpost/keyserver/store"
	"github.com/sealpost/sealpost/keyserver/store/postgres"
	"github.com/sealpost/sealpost/keyserver/store/sqlite"
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

// serve runs the key server until ctx is done, then shuts it down
// gracefully: the listeners stop accepting, in-flight requests get
// cfg.ShutdownTimeout to finish, then the key server and the store close.
func serve(ctx context.Context, cfg *Config, log *slog.Logger, stdout io.Writer) (err error) {
	if err := prepareDataDir(cfg.DataDir, log); err != nil {
		return err
	}
	cert, err := loadCertificate(cfg, log)
	if err != nil {
		return err
	}
	tokenKey, logKey, err := loadSigningKeys(cfg, log)
	if err != nil {
		return err
	}
	st, engine, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeWith(&err, "closing the store", st.Close)

	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	ks, err := newKeyServer(cfg, st, tokenKey, logKey, log, reg)
	if err != nil {
		return err
	}
	defer closeWith(&err, "closing the key server", ks.Close)

	health := healthHandler(st, log)
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	mux := http.NewServeMux()
	mux.Handle("/", ks.Handler())
	mux.Handle("GET /healthz", health)
	mux.Handle("GET /metrics", metrics)

	tlsCfg, err := tlsconfig.ServerConfig(cert)
	if err != nil {
		return err
	}
	srv := newHTTPServer(mux, log)
	srv.TLSConfig = tlsCfg
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("key server listener: %w", err)
	}
	servers := []*http.Server{srv}
	errc := make(chan error, 2)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()

	if cfg.MetricsListen != "" {
		mln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			srv.Close()
			return fmt.Errorf("metrics listener: %w", err)
		}
		mmux := http.NewServeMux()
		mmux.Handle("GET /metrics", metrics)
		mmux.Handle("GET /healthz", health)
		msrv := newHTTPServer(mmux, log)
		servers = append(servers, msrv)
		go func() { errc <- msrv.Serve(mln) }()
		fmt.Fprintf(stdout, "sealpostd: metrics on http://%s/metrics\n", mln.Addr())
	}

	fp := tlsconfig.FingerprintOf(cert.Certificate[0])
	vkey, err := kt.VerifierKey(cfg.Name+keyserver.OriginSuffix, logKey.Public().(ed25519.PublicKey))
	if err != nil {
		return fmt.Errorf("log verifier key: %w", err)
	}
	log.Info("key server started",
		"addr", ln.Addr().String(), "name", cfg.Name, "store", engine,
		"data_dir", cfg.DataDir, "invite_only", cfg.InviteOnly,
		"tls_fingerprint_sha256", fp.String(), "log_verifier_key", vkey)
	fmt.Fprintf(stdout, "sealpostd: key server listening on https://%s\n", ln.Addr())
	fmt.Fprintf(stdout, "sealpostd: transparency log verifier key: %s\n", vkey)
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

// healthHandler answers 200 when the store answers a query within
// healthTimeout, else 503.
func healthHandler(st store.Store, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		defer cancel()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if _, err := st.LogSize(ctx); err != nil {
			log.Warn("health check: store does not answer", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"status":"unavailable"}`+"\n")
			return
		}
		io.WriteString(w, `{"status":"ok"}`+"\n")
	})
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

func newKeyServer(cfg *Config, st store.Store, tokenKey, logKey ed25519.PrivateKey, log *slog.Logger, reg prometheus.Registerer) (*keyserver.Server, error) {
	ks, err := keyserver.New(keyserver.Config{
		Name:           cfg.Name,
		Store:          st,
		TokenKey:       tokenKey,
		LogKey:         logKey,
		RelayAudiences: cfg.RelayAudiences,
		InviteOnly:     cfg.InviteOnly,
		Logger:         log.With("service", "keyserver"),
		Registerer:     reg,
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
