package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sealpost/sealpost/blobs"
	blobsapi "github.com/sealpost/sealpost/blobs/api"
	"github.com/sealpost/sealpost/blobs/blobclient"
	"github.com/sealpost/sealpost/crypto/keys"
	"github.com/sealpost/sealpost/crypto/token"
	"github.com/sealpost/sealpost/internal/testrand"
	"github.com/sealpost/sealpost/internal/versitygwtest"
)

func TestValidateBlobs(t *testing.T) {
	const key = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
	s3 := func(c *Config) {
		c.BlobsS3Endpoint, c.BlobsS3Bucket, c.BlobsS3AccessKey, c.BlobsS3SecretKey = "s3.example.org", "sealpost-blobs", "AKID", "secret"
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		bad  string // flag reported, "" for valid
	}{
		{"defaults", func(c *Config) {}, ""},
		{"blobs alone without key", func(c *Config) { c.Services = "blobs" }, "--blobs-token-key"},
		{"blobs alone with key", func(c *Config) { c.Services, c.BlobsTokenKeys = "blobs", []string{key} }, ""},
		{"blobs and relay alone", func(c *Config) {
			c.Services, c.BlobsTokenKeys, c.RelayTokenKeys, c.RelayKeyServerURL = "relay,blobs", []string{key}, []string{key}, "off"
		}, ""},
		{"blobs key not a key", func(c *Config) { c.BlobsTokenKeys = []string{"nope"} }, "--blobs-token-key"},
		{"part size too small", func(c *Config) { c.BlobsPartSize = 1 << 20 }, "--blobs-part-size"},
		{"part size too large", func(c *Config) { c.BlobsPartSize = 65<<20 + 1 }, "--blobs-part-size"},
		{"max size zero", func(c *Config) { c.BlobsMaxSize = 0 }, "--blobs-max-size"},
		{"more than 10000 parts", func(c *Config) { c.BlobsPartSize, c.BlobsMaxSize = 5<<20, 5<<20*10000+1 }, "--blobs-max-size"},
		{"quota zero", func(c *Config) { c.BlobsQuota = 0 }, "--blobs-quota"},
		{"ttl not a duration", func(c *Config) { c.BlobsTTL = "30d" }, "--blobs-ttl"},
		{"ttl too short", func(c *Config) { c.BlobsTTL = "1s" }, "--blobs-ttl"},
		{"upload ttl under the part timeout", func(c *Config) { c.BlobsUploadTTL = "5m" }, "--blobs-upload-ttl"},
		{"limits off with blobs off", func(c *Config) { c.Services, c.BlobsQuota, c.BlobsTTL = "keyserver,relay", 0, "x" }, ""},
		{"s3", s3, ""},
		{"s3 without endpoint", func(c *Config) { s3(c); c.BlobsS3Endpoint = "" }, "--blobs-s3-endpoint"},
		{"s3 without bucket", func(c *Config) { s3(c); c.BlobsS3Bucket = "" }, "--blobs-s3-bucket"},
		{"s3 without secret", func(c *Config) { s3(c); c.BlobsS3SecretKey = "" }, "--blobs-s3-secret-key"},
		{"s3 endpoint with scheme", func(c *Config) { s3(c); c.BlobsS3Endpoint = "https://s3.example.org" }, "--blobs-s3-endpoint"},
		{"s3 CA over HTTP", func(c *Config) { s3(c); c.BlobsS3Secure, c.BlobsS3CA = false, "/nonexistent.pem" }, "--blobs-s3-ca"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.edit(&cfg)
			err := cfg.Validate()
			switch {
			case tc.bad == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case tc.bad != "" && err == nil:
				t.Errorf("Validate = nil, want a problem with %s", tc.bad)
			case tc.bad != "":
				for _, line := range strings.Split(err.Error(), "\n") {
					if !strings.HasPrefix(line, tc.bad) {
						t.Errorf("Validate reports %q, want problems with %s only", line, tc.bad)
					}
				}
			}
		})
	}
}

// TestBlobsConfig: flags and JSON names of the blob settings; the S3
// secret key from the environment, below the flag.
func TestBlobsConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sealpostd.json")
	if err := os.WriteFile(file, []byte(`{"blobs_quota": 1000, "blobs_ttl": "1h", "blobs_s3_endpoint": "s3.example.org", "blobs_s3_secret_key": "from-file", "blobs_s3_secure": false}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cfg, err := parseConfig("sealpostd", []string{"--config", file, "--blobs-part-size", "6291456", "--blobs-upload-ttl", "2h"}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BlobsQuota != 1000 || cfg.BlobsTTL != "1h" || cfg.BlobsPartSize != 6<<20 || cfg.BlobsUploadTTL != "2h" ||
		cfg.BlobsS3Endpoint != "s3.example.org" || cfg.BlobsS3SecretKey != "from-file" || cfg.BlobsS3Secure || cfg.BlobsMaxSize != blobs.DefaultMaxBlobSize {
		t.Errorf("parsed %+v", cfg)
	}
	t.Setenv(blobsSecretEnv, "from-env")
	cfg, err = parseConfig("sealpostd", []string{"--config", file}, &stderr)
	if err != nil || cfg.BlobsS3SecretKey != "from-env" {
		t.Errorf("secret %q, %v; want the environment's", cfg.BlobsS3SecretKey, err)
	}
	cfg, err = parseConfig("sealpostd", []string{"--config", file, "--blobs-s3-secret-key", "from-flag"}, &stderr)
	if err != nil || cfg.BlobsS3SecretKey != "from-flag" {
		t.Errorf("secret %q, %v; want the flag's", cfg.BlobsS3SecretKey, err)
	}
}

// blobsToken mints a token for the blob service of server name, signed
// with key.
func blobsToken(t *testing.T, key ed25519.PrivateKey, handle string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) {
		now := time.Now()
		tok, err := token.Issue(testrand.New("sealpostd blobs "+handle), key, token.Claims{
			Handle: handle, Device: keys.DeviceID(1), Audience: blobsapi.AudiencePrefix + "localhost",
			IssuedAt: now.Add(-time.Minute), Expiry: now.Add(time.Hour),
		})
		if err != nil {
			return "", err
		}
		return tok.Encode(), nil
	}
}

// uploadThrough sends data as one upload through c and downloads it back.
func uploadThrough(t *testing.T, c *blobclient.Client, data []byte) [32]byte {
	t.Helper()
	ctx := context.Background()
	cr, err := c.Create(ctx, int64(len(data)), sha256.Sum256(data))
	if err != nil {
		t.Fatal(err)
	}
	var id *[32]byte
	for off := int64(0); id == nil; {
		n := min(cr.PartSize, int64(len(data))-off)
		off, id, err = c.PutPart(ctx, cr.UploadID, off, bytes.NewReader(data[off:off+n]), n)
		if err != nil {
			t.Fatal(err)
		}
	}
	rc, total, err := c.Get(ctx, *id, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || total != int64(len(data)) || !bytes.Equal(got, data) {
		t.Fatalf("download: %d of %d bytes, %v", len(got), total, err)
	}
	return *id
}

// TestDaemonBlobs runs the three services (the default): the key server
// lists the blob audience, an upload of two parts and its download go
// through the daemon, the data directory holds blobs.db and blobs/, the
// metrics count it; after a restart the blob still serves.
func TestDaemonBlobs(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	args := []string{"--data-dir", dataDir, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--blobs-part-size", "5242880"}
	d := start(t, args...)
	resp, body := get(t, d.client(), "https://"+d.addr+"/.well-known/sealpost-keyserver")
	var wk struct {
		RelayAudiences []string `json:"relay_audiences"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &wk) != nil || !slices.Contains(wk.RelayAudiences, "blobs:localhost") {
		t.Errorf("well-known audiences: %s %s", resp.Status, body)
	}
	key, err := readKey(filepath.Join(dataDir, tokenKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	c, err := blobclient.New("https://"+d.addr, d.client(), blobsToken(t, key, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 5<<20+1000)
	io.ReadFull(testrand.New("sealpostd blob"), data)
	id := uploadThrough(t, c, data)
	for _, f := range []string{blobsSQLiteFile, blobsDir} {
		if _, err := os.Stat(filepath.Join(dataDir, f)); err != nil {
			t.Errorf("blob service's %s: %v", f, err)
		}
	}
	resp, body = get(t, http.DefaultClient, d.admin+"/metrics")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "sealpost_blobs_uploads_completed_total 1") {
		t.Errorf("/metrics: %s, blob metrics missing", resp.Status)
	}
	d.stop(t)

	d = start(t, args...)
	c, _ = blobclient.New("https://"+d.addr, d.client(), blobsToken(t, key, "alice"))
	rc, total, err := c.Get(context.Background(), id, 5<<20)
	if err != nil {
		t.Fatalf("Get after restart: %v", err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if total != int64(len(data)) || !bytes.Equal(got, data[5<<20:]) {
		t.Errorf("download after restart: %d bytes", len(got))
	}
	d.stop(t)
}

// TestDaemonBlobsAlone runs the blob service without the key server,
// with its token key given.
func TestDaemonBlobsAlone(t *testing.T) {
	key, err := loadOrCreateKey(filepath.Join(t.TempDir(), tokenKeyFile), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
	dataDir := filepath.Join(t.TempDir(), "data")
	d := start(t, "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--services", "blobs", "--blobs-token-key", b64)
	if resp, _ := get(t, d.client(), "https://"+d.addr+"/.well-known/sealpost-keyserver"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("blobs alone serves the key server: %s", resp.Status)
	}
	c, err := blobclient.New("https://"+d.addr, d.client(), blobsToken(t, key, "bob"))
	if err != nil {
		t.Fatal(err)
	}
	uploadThrough(t, c, []byte("a small blob"))
	// A token of another issuer is refused.
	other, _ := blobclient.New("https://"+d.addr, d.client(), blobsToken(t, ed25519.NewKeyFromSeed(make([]byte, 32)), "bob"))
	if _, err := other.Create(context.Background(), 10, [32]byte{}); err == nil {
		t.Error("a token of another key server was taken")
	}
	d.stop(t)
	for _, f := range []string{tokenKeyFile, sqliteFile, relaySQLiteFile} {
		if _, err := os.Stat(filepath.Join(dataDir, f)); err == nil {
			t.Errorf("blobs alone created %s", f)
		}
	}
}

// TestDaemonBlobsS3 runs the blob service over an S3 server on HTTPS
// (versitygw with its own CA), the secret key given in the environment,
// not on the command line: the blob's bytes are objects in the bucket,
// none under the data directory.
func TestDaemonBlobsS3(t *testing.T) {
	gw := versitygwtest.StartTLS(t)
	t.Setenv(blobsSecretEnv, gw.SecretKey)
	dataDir := filepath.Join(t.TempDir(), "data")
	d := start(t, "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--services", "keyserver,blobs",
		"--blobs-s3-endpoint", gw.Endpoint, "--blobs-s3-bucket", gw.Bucket, "--blobs-s3-prefix", "blobs/",
		"--blobs-s3-access-key", gw.AccessKey, "--blobs-s3-region", versitygwtest.Region, "--blobs-s3-ca", gw.CAFile)
	if strings.Contains(strings.Join(d.cmd.Args, " "), gw.SecretKey) {
		t.Fatal("the secret key is on the command line")
	}
	key, err := readKey(filepath.Join(dataDir, tokenKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	c, err := blobclient.New("https://"+d.addr, d.client(), blobsToken(t, key, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 100_000)
	io.ReadFull(testrand.New("sealpostd s3 blob"), data)
	uploadThrough(t, c, data)
	d.stop(t)
	if _, err := os.Stat(filepath.Join(dataDir, blobsDir)); err == nil {
		t.Error("the blob service used the data directory with S3 configured")
	}
	objects, err := os.ReadDir(filepath.Join(gw.Root, gw.Bucket, "blobs"))
	if err != nil || len(objects) == 0 {
		t.Errorf("no objects under the prefix in the bucket: %v", err)
	}
}

// TestDaemonBlobsShutdown: SIGTERM while a part is arriving lets the part
// finish and be answered, then sealpostd exits with status 0.
func TestDaemonBlobsShutdown(t *testing.T) {
	key, err := loadOrCreateKey(filepath.Join(t.TempDir(), tokenKeyFile), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
	d := start(t, "--data-dir", filepath.Join(t.TempDir(), "data"), "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--services", "blobs", "--blobs-token-key", b64)
	c, err := blobclient.New("https://"+d.addr, d.client(), blobsToken(t, key, "carol"))
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 200_000)
	io.ReadFull(testrand.New("sealpostd shutdown blob"), data)
	ctx := context.Background()
	cr, err := c.Create(ctx, int64(len(data)), sha256.Sum256(data))
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	type result struct {
		blob *[32]byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		_, blob, err := c.PutPart(ctx, cr.UploadID, 0, pr, int64(len(data)))
		done <- result{blob, err}
	}()
	if _, err := pw.Write(data[:1000]); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, body := get(t, http.DefaultClient, d.admin+"/metrics")
		if strings.Contains(string(body), "sealpost_blobs_uploads_in_progress 1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the part never started")
		}
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the listener closes; the part goes on
	if _, err := pw.Write(data[1000:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if r := <-done; r.err != nil || r.blob == nil {
		t.Fatalf("the part in flight at SIGTERM: %v, %v", r.blob, r.err)
	}
	select {
	case <-d.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("sealpostd still running 20s after SIGTERM")
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit status %d", code)
	}
}
