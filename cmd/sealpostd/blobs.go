package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sealpost/sealpost/blobs"
	blobsapi "github.com/sealpost/sealpost/blobs/api"
	"github.com/sealpost/sealpost/blobs/meta"
	blobspg "github.com/sealpost/sealpost/blobs/meta/postgres"
	blobssqlite "github.com/sealpost/sealpost/blobs/meta/sqlite"
	"github.com/sealpost/sealpost/blobs/store"
	"github.com/sealpost/sealpost/blobs/store/fs"
	"github.com/sealpost/sealpost/blobs/store/s3"
)

// The blob service (spec/attachments.md §4) in the data directory: its
// database (with -wal and -shm files; with --postgres its tables live in
// that database) and, unless S3 is configured, the file system engine's
// directory.
const (
	blobsSQLiteFile = "blobs.db"
	blobsDir        = "blobs"
)

// serviceBlobs is the blob service's name in --services.
const serviceBlobs = "blobs"

// blobsSecretEnv is the environment variable the S3 secret key may come
// from, so it need not be on the command line.
const blobsSecretEnv = "SEALPOST_BLOBS_S3_SECRET_KEY"

// blobsOn reports whether c runs the blob service; c must be valid.
func (c *Config) blobsOn() bool {
	for _, s := range strings.Split(c.Services, ",") {
		if strings.TrimSpace(s) == serviceBlobs {
			return true
		}
	}
	return false
}

// setBlobsDefaults fills c's blob service limits (spec/attachments.md
// §4.7).
func (c *Config) setBlobsDefaults() {
	c.BlobsQuota = blobs.DefaultAccountQuota
	c.BlobsMaxSize = blobs.DefaultMaxBlobSize
	c.BlobsPartSize = blobs.DefaultPartSize
	c.BlobsTTL = blobs.DefaultBlobTTL.String()
	c.BlobsUploadTTL = blobs.DefaultUploadTTL.String()
	c.BlobsS3Secure = true
}

// blobsAudience is the audience of tokens for this process's blob
// service.
func blobsAudience(cfg *Config) string { return blobsapi.AudiencePrefix + cfg.Name }

// validateBlobs adds the problems with the blob service's settings to bad.
func (c *Config) validateBlobs(ks bool, bad func(flag, format string, args ...any)) {
	for _, k := range c.BlobsTokenKeys {
		if _, err := parseTokenKey(k); err != nil {
			bad("blobs-token-key", "%v", err)
		}
	}
	if !c.blobsOn() {
		return
	}
	if !ks && len(c.BlobsTokenKeys) == 0 {
		bad("blobs-token-key", "missing: the blob service without the key server needs the key server's token public key")
	}
	if c.BlobsPartSize < blobs.MinPartSize || c.BlobsPartSize > blobs.MaxPartSize {
		bad("blobs-part-size", "%d: want %d to %d bytes", c.BlobsPartSize, blobs.MinPartSize, blobs.MaxPartSize)
	}
	if c.BlobsMaxSize < 1 {
		bad("blobs-max-size", "%d: want 1 or more bytes", c.BlobsMaxSize)
	} else if c.BlobsPartSize >= blobs.MinPartSize && (c.BlobsMaxSize-1)/c.BlobsPartSize+1 > store.MaxParts {
		bad("blobs-max-size", "%d: more than %d parts of --blobs-part-size %d", c.BlobsMaxSize, store.MaxParts, c.BlobsPartSize)
	}
	if c.BlobsQuota < 1 {
		bad("blobs-quota", "%d: want 1 or more bytes", c.BlobsQuota)
	}
	blobTTL, err := time.ParseDuration(c.BlobsTTL)
	if err != nil || blobTTL < time.Minute || blobTTL > 10*365*24*time.Hour {
		bad("blobs-ttl", "%q: want a duration from 1m to 87600h, such as 720h", c.BlobsTTL)
	}
	uploadTTL, err := time.ParseDuration(c.BlobsUploadTTL)
	if err != nil || uploadTTL < blobs.DefaultPartTimeout || uploadTTL > 365*24*time.Hour {
		bad("blobs-upload-ttl", "%q: want a duration from %v to 8760h, such as 24h", c.BlobsUploadTTL, blobs.DefaultPartTimeout)
	}
	if !c.blobsS3() {
		if c.BlobsS3Bucket != "" || c.BlobsS3Prefix != "" || c.BlobsS3AccessKey != "" || c.BlobsS3SecretKey != "" || c.BlobsS3Region != "" || c.BlobsS3CA != "" {
			bad("blobs-s3-endpoint", "missing: the other --blobs-s3-* settings need it")
		}
		return
	}
	for _, line := range strings.Split(fmt.Sprint(c.blobsS3Config().Validate()), "\n") {
		if line == "<nil>" {
			break
		}
		bad(s3Flag(line), "%s", strings.TrimPrefix(line, "s3: "))
	}
}

// s3Flag names the flag an s3.Config.Validate problem is about.
func s3Flag(problem string) string {
	field, _, _ := strings.Cut(strings.TrimPrefix(problem, "s3: "), " ")
	switch field {
	case "Endpoint":
		return "blobs-s3-endpoint"
	case "Bucket":
		return "blobs-s3-bucket"
	case "Prefix":
		return "blobs-s3-prefix"
	case "AccessKey":
		return "blobs-s3-access-key"
	case "SecretKey":
		return "blobs-s3-secret-key (or $" + blobsSecretEnv + ")"
	case "Region":
		return "blobs-s3-region"
	}
	return "blobs-s3-ca"
}

// blobsS3 reports whether the blob service stores its bytes in S3.
func (c *Config) blobsS3() bool { return c.BlobsS3Endpoint != "" }

func (c *Config) blobsS3Config() s3.Config {
	return s3.Config{
		Endpoint: c.BlobsS3Endpoint, Bucket: c.BlobsS3Bucket, Prefix: c.BlobsS3Prefix,
		AccessKey: c.BlobsS3AccessKey, SecretKey: c.BlobsS3SecretKey,
		Region: c.BlobsS3Region, Secure: c.BlobsS3Secure, CAFile: c.BlobsS3CA,
	}
}

// blobsConfig returns the blob service's configuration; c must be valid.
func (c *Config) blobsConfig(keys []ed25519.PublicKey) blobs.Config {
	d := func(v string) time.Duration { x, _ := time.ParseDuration(v); return x }
	return blobs.Config{
		Name:         c.Name,
		TokenKeys:    keys,
		MaxBlobSize:  c.BlobsMaxSize,
		AccountQuota: c.BlobsQuota,
		PartSize:     c.BlobsPartSize,
		BlobTTL:      d(c.BlobsTTL),
		UploadTTL:    d(c.BlobsUploadTTL),
	}
}

// blobsTokenKeys returns the token keys the blob service accepts: the
// configured ones and, when the key server runs in this process, its own.
func blobsTokenKeys(cfg *Config, own ed25519.PrivateKey) []ed25519.PublicKey {
	var keys []ed25519.PublicKey
	if own != nil {
		keys = append(keys, own.Public().(ed25519.PublicKey))
	}
	for _, s := range cfg.BlobsTokenKeys {
		k, _ := parseTokenKey(s) // validated
		if !slices.ContainsFunc(keys, func(x ed25519.PublicKey) bool { return x.Equal(k) }) {
			keys = append(keys, k)
		}
	}
	return keys
}

// openBlobsMeta opens the blob service's database: PostgreSQL if
// configured, else blobs.db in the data directory.
func openBlobsMeta(ctx context.Context, cfg *Config) (meta.Store, string, error) {
	if cfg.Postgres != "" {
		st, err := blobspg.Open(ctx, cfg.Postgres)
		if err != nil {
			return nil, "", fmt.Errorf("opening the blob service's PostgreSQL store: %w", err)
		}
		return st, "postgres", nil
	}
	path := filepath.Join(cfg.DataDir, blobsSQLiteFile)
	st, err := blobssqlite.Open(path)
	if err != nil {
		return nil, "", fmt.Errorf("opening SQLite %s: %w", path, err)
	}
	return st, "sqlite", nil
}

// openBlobsEngine opens the blob service's byte store: S3 if configured,
// else the file system under the data directory.
func openBlobsEngine(ctx context.Context, cfg *Config) (store.Engine, string, error) {
	if cfg.blobsS3() {
		e, err := s3.Open(ctx, cfg.blobsS3Config())
		if err != nil {
			return nil, "", fmt.Errorf("opening the blob service's S3 bucket: %w", err)
		}
		return e, "s3", nil
	}
	dir := filepath.Join(cfg.DataDir, blobsDir)
	e, err := fs.Open(dir)
	if err != nil {
		return nil, "", fmt.Errorf("opening the blob directory %s: %w", dir, err)
	}
	return e, "fs", nil
}

// blobService is the running blob service: its server, stores and
// sweeper.
type blobService struct {
	srv       *blobs.Server
	md        meta.Store
	engine    store.Engine
	stopSweep context.CancelFunc
	swept     chan struct{}
}

// startBlobs opens the blob service's stores, builds it and starts its
// sweeper; close stops the sweeper and closes the stores.
func startBlobs(ctx context.Context, cfg *Config, tokenKey ed25519.PrivateKey, log *slog.Logger, reg prometheus.Registerer) (*blobService, string, error) {
	md, mdName, err := openBlobsMeta(ctx, cfg)
	if err != nil {
		return nil, "", err
	}
	eng, engName, err := openBlobsEngine(ctx, cfg)
	if err != nil {
		md.Close()
		return nil, "", err
	}
	bcfg := cfg.blobsConfig(blobsTokenKeys(cfg, tokenKey))
	if bcfg.NodeID, err = loadNodeID(cfg.DataDir); err != nil {
		eng.Close()
		md.Close()
		return nil, "", err
	}
	srv, err := blobs.New(bcfg, md, eng, log.With("service", "blobs"), reg)
	if err != nil {
		eng.Close()
		md.Close()
		return nil, "", fmt.Errorf("blob service: %w", err)
	}
	sctx, stop := context.WithCancel(context.Background())
	b := &blobService{srv: srv, md: md, engine: eng, stopSweep: stop, swept: make(chan struct{})}
	go func() { defer close(b.swept); srv.Run(sctx) }()
	return b, mdName + "+" + engName, nil
}

// close stops the sweeper, then closes the engine and the database.
func (b *blobService) close() error {
	b.stopSweep()
	<-b.swept
	return errors.Join(b.engine.Close(), b.md.Close())
}

// healthy reports whether the blob service's database answers a query.
func (b *blobService) healthy(ctx context.Context) error {
	_, err := b.md.Usage(ctx, "healthz", time.Now())
	return err
}

// blobsSecretFromEnv sets the S3 secret key from the environment, if set
// there: after the config file, before the flags.
func (c *Config) blobsSecretFromEnv() {
	if v, ok := os.LookupEnv(blobsSecretEnv); ok && v != "" {
		c.BlobsS3SecretKey = v
	}
}

// nodeIDFile holds the blob service's node id (blobs.Config.NodeID) in
// the data directory, 16 hex digits.
const nodeIDFile = "blobs-node-id"

// loadNodeID reads the node id from the data directory, or makes one.
func loadNodeID(dataDir string) ([8]byte, error) {
	var id [8]byte
	path := filepath.Join(dataDir, nodeIDFile)
	b, err := os.ReadFile(path)
	if err == nil {
		if n, err := hex.Decode(id[:], bytes.TrimSpace(b)); err != nil || n != len(id) {
			return id, fmt.Errorf("%s: want %d hex digits", path, 2*len(id))
		}
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return id, err
	}
	rand.Read(id[:])
	if err := os.WriteFile(path, []byte(hex.EncodeToString(id[:])+"\n"), 0o600); err != nil {
		return id, fmt.Errorf("writing %s: %w", path, err)
	}
	return id, nil
}
