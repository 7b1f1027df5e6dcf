package blobs

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sealpost/sealpost/blobs/api"
	"github.com/sealpost/sealpost/blobs/blobclient"
	"github.com/sealpost/sealpost/blobs/meta"
	"github.com/sealpost/sealpost/blobs/meta/postgres"
	"github.com/sealpost/sealpost/blobs/meta/sqlite"
	"github.com/sealpost/sealpost/blobs/store"
	"github.com/sealpost/sealpost/blobs/store/fs"
	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/internal/pgtest"
	"github.com/sealpost/sealpost/internal/testrand"
)

const serverName = "blobs.test"

// issuer is the test key server's token key.
var issuer = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

// clock is a settable clock, starting at a fixed time.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// env is a blob service over TLS 1.3 with the real engine (fs) and
// database (SQLite, or PostgreSQL where the test asks for it).
type env struct {
	t      testing.TB
	s      *Server
	ts     *httptest.Server
	meta   meta.Store
	engine store.Engine
	clock  *clock
	logs   *syncBuffer
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// backends are the databases each test runs against: SQLite always,
// PostgreSQL when SEALPOST_TEST_POSTGRES is set (pgtest.DSN skips).
var backends = map[string]func(t *testing.T) meta.Store{
	"sqlite": func(t *testing.T) meta.Store { return openSQLite(t) },
	"postgres": func(t *testing.T) meta.Store {
		st, err := postgres.Open(context.Background(), pgtest.DSN(t))
		if err != nil {
			t.Fatal(err)
		}
		return st
	},
}

func openSQLite(t testing.TB) meta.Store {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "blobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// forEachBackend runs fn once per database.
func forEachBackend(t *testing.T, fn func(t *testing.T, open func(t *testing.T) meta.Store)) {
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) { fn(t, backends[name]) })
	}
}

// newEnv starts a service with small limits unless mod changes them.
func newEnv(t testing.TB, open func(t *testing.T) meta.Store, mod func(*Config)) *env {
	t.Helper()
	return newEnvEngine(t, open, nil, mod)
}

// newEnvEngine is newEnv with the engine openEngine returns (nil: fs).
func newEnvEngine(t testing.TB, open func(t *testing.T) meta.Store, openEngine func(t testing.TB) store.Engine, mod func(*Config)) *env {
	t.Helper()
	var md meta.Store
	if open == nil {
		md = openSQLite(t)
	} else {
		md = open(t.(*testing.T))
	}
	var eng store.Engine
	if openEngine != nil {
		eng = openEngine(t)
	} else {
		fe, err := fs.Open(filepath.Join(t.TempDir(), "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		eng = fe
	}
	clk := &clock{now: time.Unix(1_800_000_000, 0).UTC()}
	cfg := Config{
		Name:      serverName,
		TokenKeys: []ed25519.PublicKey{issuer.Public().(ed25519.PublicKey)},
		PartSize:  MinPartSize,
		Now:       clk.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	logs := &syncBuffer{}
	s, err := New(cfg, md, eng, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(s)
	ts.TLS = &tls.Config{MinVersion: tls.VersionTLS13}
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(func() {
		ts.Close()
		eng.Close()
		md.Close()
	})
	return &env{t: t, s: s, ts: ts, meta: md, engine: eng, clock: clk, logs: logs}
}

// mint returns a token of handle for aud valid on the service's clock.
func (e *env) mint(handle, aud string) string {
	e.t.Helper()
	now := e.clock.Now()
	tok, err := token.Issue(testrand.New("blobs token "+handle), issuer, token.Claims{
		Handle: handle, Device: keys.DeviceID(1), Audience: aud,
		IssuedAt: now, Expiry: now.Add(time.Hour),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok.Encode()
}

// client returns a blobclient for handle.
func (e *env) client(handle string) *blobclient.Client {
	e.t.Helper()
	c, err := blobclient.New(e.ts.URL, e.ts.Client(), func(context.Context) (string, error) {
		return e.mint(handle, api.AudiencePrefix+serverName), nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// reply is one raw HTTP answer.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// code returns the error code of an error answer.
func (r reply) code() string {
	var e api.ErrorResponse
	_ = jsonUnmarshal(r.body, &e)
	return e.Error
}

// do sends a raw request; bearer "" sends no Authorization.
func (e *env) do(method, path, bearer string, body []byte, h map[string]string) reply {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// bearer is a valid token of handle for this service.
func (e *env) bearer(handle string) string { return e.mint(handle, api.AudiencePrefix+serverName) }

// usage is the account's usage now.
func (e *env) usage(account string) meta.Usage {
	e.t.Helper()
	u, err := e.meta.Usage(context.Background(), account, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// ciphertext is n bytes standing for a ciphertext, and its digest.
func ciphertext(label string, n int) ([]byte, [32]byte) {
	b := make([]byte, n)
	_, _ = io.ReadFull(testrand.New(label), b)
	return b, sha256.Sum256(b)
}

// upload sends data whole as handle through the client and returns the
// blob id.
func (e *env) upload(handle string, data []byte) [32]byte {
	e.t.Helper()
	ctx := context.Background()
	c := e.client(handle)
	cr, err := c.Create(ctx, int64(len(data)), sha256.Sum256(data))
	if err != nil {
		e.t.Fatal(err)
	}
	if cr.BlobID != nil {
		return *cr.BlobID
	}
	off := cr.Offset
	for {
		n := min(cr.PartSize, int64(len(data))-off)
		next, blob, err := c.PutPart(ctx, cr.UploadID, off, bytes.NewReader(data[off:off+n]), n)
		if err != nil {
			e.t.Fatalf("PutPart at %d: %v", off, err)
		}
		if blob != nil {
			return *blob
		}
		off = next
	}
}

// create starts an upload of data as handle through the client.
func (e *env) create(handle string, data []byte) blobclient.Created {
	e.t.Helper()
	cr, err := e.client(handle).Create(context.Background(), int64(len(data)), sha256.Sum256(data))
	if err != nil {
		e.t.Fatal(err)
	}
	if cr.BlobID != nil {
		e.t.Fatal("Create answered a blob")
	}
	return cr
}

// download reads blob id whole.
func (e *env) download(id [32]byte) ([]byte, error) {
	rc, total, err := e.client("nobody").Get(context.Background(), id, 0)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err == nil && int64(len(b)) != total {
		err = errors.New("short download")
	}
	return b, err
}

// wantCode checks that err is a *blobclient.Error with code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var be *blobclient.Error
	if !errors.As(err, &be) || be.Code != code {
		t.Fatalf("error %v, want code %s", err, code)
	}
}

// offsetOf is the committed offset of upload id of handle.
func (e *env) offsetOf(handle string, id [32]byte) int64 {
	e.t.Helper()
	off, _, _, err := e.client(handle).Offset(context.Background(), id)
	if err != nil {
		e.t.Fatalf("Offset: %v", err)
	}
	return off
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// testutilCounter reads a counter or gauge.
func testutilCounter(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }
