package client

import (
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealpost/sealpost/blobs"
	blobsqlite "github.com/sealpost/sealpost/blobs/meta/sqlite"
	"github.com/sealpost/sealpost/blobs/store"
	blobfs "github.com/sealpost/sealpost/blobs/store/fs"

	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/crypto/vrf"
	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/keyserver"
	"github.com/sealpost/sealpost/keyserver/kt/directory"
	ksstore "github.com/sealpost/sealpost/keyserver/store"
	kspg "github.com/sealpost/sealpost/keyserver/store/postgres"
	kssqlite "github.com/sealpost/sealpost/keyserver/store/sqlite"
	"github.com/sealpost/sealpost/relay"
	relaystore "github.com/sealpost/sealpost/relay/store"
	relaypg "github.com/sealpost/sealpost/relay/store/postgres"
	relaysqlite "github.com/sealpost/sealpost/relay/store/sqlite"
	"github.com/sealpost/sealpost/tlsconfig"
)

const serverName = "test.example"

// servers is a real key server and a real relay on one TLS 1.3 listener
// on 127.0.0.1, as sealpostd serves them, on SQLite files or PostgreSQL.
type servers struct {
	t    testing.TB
	url  string // https://127.0.0.1:PORT
	pin  string
	ks   *keyserver.Server
	ksdb ksstore.Store
	rs   *relay.Server
	q    relaystore.Queue
	srv  *httptest.Server
	dir  string
	dsn  string // the PostgreSQL schema's, for the PostgreSQL engine
	// logKey signs the log's checkpoints.
	logKey ed25519.PrivateKey
	vrfKey *vrf.PrivateKey
	// tokenPub verifies the key server's access tokens (a relay started
	// beside s.rs needs it).
	tokenPub ed25519.PublicKey
	// bs is the blob service (spec/attachments.md §4), on SQLite and the
	// file system under dir/blobs.
	bs *blobs.Server
	// relayURL, if set, is the relay URL of the clients' configurations
	// (a relay a test restarts, restartableRelay).
	relayURL string
	// handler, if set, sees every request first (a test double that
	// forges answers); it calls next for the rest.
	intercept atomic.Pointer[interceptor]
}

// interceptor sees a request before the servers do.
type interceptor func(w http.ResponseWriter, r *http.Request, next http.Handler)

// setIntercept installs fn (nil: none).
func (s *servers) setIntercept(fn interceptor) {
	if fn == nil {
		s.intercept.Store(nil)
		return
	}
	s.intercept.Store(&fn)
}

// engine says which stores the servers use.
type engine string

const (
	engineSQLite   engine = "sqlite"
	enginePostgres engine = "postgres"
)

func startServers(t testing.TB, eng engine) *servers {
	t.Helper()
	return startServersWith(t, eng, nil)
}

// startServersWith is startServers with the relay's Config changed by
// relayConfig (limits, metrics) before it starts.
func startServersWith(t testing.TB, eng engine, relayConfig func(*relay.Config)) *servers {
	t.Helper()
	return startServersFull(t, eng, relayConfig, nil)
}

// startServersFull is startServersWith with the blob service's Config
// changed by blobConfig too.
func startServersFull(t testing.TB, eng engine, relayConfig func(*relay.Config), blobConfig func(*blobs.Config)) *servers {
	t.Helper()
	return startServersEngine(t, eng, relayConfig, blobConfig, nil)
}

// startServersEngine is startServersFull with the blob service's bytes in
// blobEngine (nil: the file system under the servers' directory).
func startServersEngine(t testing.TB, eng engine, relayConfig func(*relay.Config), blobConfig func(*blobs.Config), blobEngine store.Engine) *servers {
	t.Helper()
	s := &servers{t: t, dir: t.TempDir()}
	ctx := context.Background()
	var err error
	switch eng {
	case engineSQLite:
		if s.ksdb, err = kssqlite.Open(filepath.Join(s.dir, "keyserver.db")); err != nil {
			t.Fatal(err)
		}
		if s.q, err = relaysqlite.Open(filepath.Join(s.dir, "relay.db")); err != nil {
			t.Fatal(err)
		}
	case enginePostgres:
		dsn := pgtest.DSN(t)
		s.dsn = dsn
		if s.ksdb, err = kspg.Open(ctx, dsn); err != nil {
			t.Fatal(err)
		}
		if s.q, err = relaypg.Open(ctx, dsn); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { s.ksdb.Close(); s.q.Close() })
	_, tokenKey, _ := ed25519.GenerateKey(rand.Reader)
	_, logKey, _ := ed25519.GenerateKey(rand.Reader)
	vrfKey, err := vrf.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s.logKey, s.vrfKey = logKey, vrfKey
	s.tokenPub = tokenKey.Public().(ed25519.PublicKey)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	s.ks, err = keyserver.New(keyserver.Config{
		Name:           serverName,
		Store:          s.ksdb,
		TokenKey:       tokenKey,
		LogKey:         logKey,
		VRFKey:         vrfKey,
		RelayAudiences: []string{"relay:" + serverName, "blobs:" + serverName},
		Logger:         quiet,
		// Tests claim, look up and upload more often than a person would.
		Limits: keyserver.Limits{
			ClaimsPerMinute: 60000, ClaimBurst: 1000, TargetClaimsPerHour: 1e6, TargetClaimBurst: 1000,
			UploadsPerHour: 1e6, UploadBurst: 1000, LookupsPerSecond: 1e6, LookupBurst: 1e6,
			AddressLookupsPerSecond: 1e6, AddressLookupBurst: 1e6, RequestsPerSecond: 1e6, RequestBurst: 1e6,
			SendTokensPerEpoch: 1e6,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.ks.Close() })
	limits := relay.DefaultLimits()
	limits.HeartbeatInterval = 200 * time.Millisecond
	limits.IdleTimeout = 2 * time.Second
	rcfg := relay.Config{
		Name:      serverName,
		Queue:     s.q,
		TokenKeys: []ed25519.PublicKey{tokenKey.Public().(ed25519.PublicKey)},
		Limits:    limits,
		Logger:    quiet,
		// The key server's revocation feed, read in process as
		// sealpostd does (spec/relay.md §2.4).
		Revocations: s.ks,
	}
	if relayConfig != nil {
		relayConfig(&rcfg)
	}
	s.rs, err = relay.New(rcfg)
	if err != nil {
		t.Fatal(err)
	}
	bmeta, err := blobsqlite.Open(filepath.Join(s.dir, "blobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	beng := blobEngine
	if beng == nil {
		fe, err := blobfs.Open(filepath.Join(s.dir, "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		beng = fe
	}
	t.Cleanup(func() { bmeta.Close(); beng.Close() })
	bcfg := blobs.Config{Name: serverName, TokenKeys: []ed25519.PublicKey{s.tokenPub}}
	if blobConfig != nil {
		blobConfig(&bcfg)
	}
	if s.bs, err = blobs.New(bcfg, bmeta, beng, quiet, nil); err != nil {
		t.Fatal(err)
	}
	cert, _, err := tlsconfig.LoadOrCreate(s.dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	scfg, err := tlsconfig.ServerConfig(cert)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", s.ks.Handler())
	mux.Handle(relay.Path, s.rs.Handler())
	mux.Handle(relay.InfoPath, s.rs.Handler())
	mux.Handle("/v1/blobs/", s.bs)
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fn := s.intercept.Load(); fn != nil {
			(*fn)(w, r, mux)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	s.srv.TLS = scfg
	s.srv.StartTLS()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.rs.Shutdown(ctx)
		s.srv.Close()
	})
	s.url = s.srv.URL
	s.pin = tlsconfig.FingerprintOf(cert.Certificate[0]).String()
	return s
}

// config returns a client configuration for these servers in dir.
func (s *servers) config(dir string) Config {
	return Config{
		Dir:        dir,
		Passphrase: []byte("correct horse battery staple"),
		Create:     true,
		KeyServer:  s.url,
		Relay:      s.relayURL,
		Pin:        s.pin,
		LogKey:     s.logVerifierKey(),
		WorkFactor: 10,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// logVerifierKey is the log's verifier key, as sealpostd prints it.
func (s *servers) logVerifierKey() string {
	vkey, err := directory.VerifierKey(serverName, s.logKey.Public().(ed25519.PublicKey))
	if err != nil {
		s.t.Fatal(err)
	}
	return vkey
}

// newUser opens a client in a new directory and registers handle.
func (s *servers) newUser(handle string) *Client {
	c, _ := s.newUserDir(handle)
	return c
}

// newUserDir is newUser that also returns the client's directory, for
// tests that close and reopen it.
func (s *servers) newUserDir(handle string) (*Client, string) {
	s.t.Helper()
	dir := s.t.TempDir()
	c := s.open(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Register(ctx, handle); err != nil {
		s.t.Fatalf("register %s: %v", handle, err)
	}
	return c, dir
}

// db opens one of the servers' SQLite files (keyserver.db, relay.db)
// beside the running servers, as an intruder with the files would.
func (s *servers) db(name string) *sql.DB {
	s.t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(s.dir, name)+"?_pragma=busy_timeout(5000)")
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { db.Close() })
	return db
}

// open opens a client in dir, closed at the end of the test.
func (s *servers) open(dir string) *Client {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Open(ctx, s.config(dir))
	if err != nil {
		s.t.Fatalf("open %s: %v", dir, err)
	}
	s.t.Cleanup(func() { c.Close() })
	return c
}

// recv waits for the next message.
func recv(t *testing.T, c *Client) *Message {
	t.Helper()
	select {
	case m := <-c.Messages():
		m.Ack()
		return m
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: no message within 20 s", c.Handle())
		return nil
	}
}

// noMessage checks that no message arrives for a short while.
func noMessage(t *testing.T, c *Client, within time.Duration) {
	t.Helper()
	select {
	case m := <-c.Messages():
		t.Fatalf("%s: unexpected message %q from %s", c.Handle(), m.Plaintext, m.From)
	case <-time.After(within):
	}
}

// waitEvent waits for an event of kind, skipping others.
func waitEvent(t *testing.T, c *Client, kind EventKind) Event {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case e, ok := <-c.Events():
			if !ok {
				t.Fatal("events closed")
			}
			if e.Kind == kind {
				return e
			}
		case <-deadline:
			t.Fatalf("no %s event within 20 s", kind)
		}
	}
}

// send sends and fails the test on error.
func send(t *testing.T, c *Client, to, text string) MessageID {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	id, err := c.Send(ctx, to, []byte(text))
	if err != nil {
		t.Fatalf("%s → %s: %v", c.Handle(), to, err)
	}
	return id
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// signChallengeFor answers a key server challenge as device 1 of handle.
func signChallengeFor(dk *keys.DevicePrivateKeys, handle string, challenge []byte) ([]byte, error) {
	return token.SignChallenge(dk, handle, 1, challenge, serverName)
}

func readFile(path string) ([]byte, error)     { return os.ReadFile(path) }
func writeFile(path string, data []byte) error { return os.WriteFile(path, data, 0o600) }

var _ = errors.New
var _ = fmt.Sprint

func readDir(dir string) ([]string, error) {
	es, err := os.ReadDir(dir)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names, err
}

// x25519Public returns the X25519 public key of priv.
func x25519Public(priv [32]byte) ([32]byte, error) {
	k, err := ecdh.X25519().NewPrivateKey(priv[:])
	if err != nil {
		return [32]byte{}, err
	}
	return [32]byte(k.PublicKey().Bytes()), nil
}

// kvStoreEngine reports whether this run keeps the client stores in the
// localstore kv engine (the browser's, on its native log file): CI runs the
// package a second time with SEALPOST_TEST_LOCALSTORE_ENGINE=kv
// (spec/client-store.md §8).
func kvStoreEngine() bool { return os.Getenv("SEALPOST_TEST_LOCALSTORE_ENGINE") == "kv" }

// requireSQLiteStore skips a test that reads or edits state.db with SQL
// when the stores are kv stores.
func requireSQLiteStore(t *testing.T) {
	t.Helper()
	if kvStoreEngine() {
		t.Skip("reads or edits the SQLite engine's state.db")
	}
}
