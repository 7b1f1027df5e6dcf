package s3

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// maxPrefix bounds Config.Prefix, leaving room for a key within S3's
// 1024-byte object names.
const maxPrefix = 512

// Config is where the engine stores blobs.
type Config struct {
	// Endpoint is the server's host or host:port, without a scheme
	// ("s3.eu-west-1.amazonaws.com", "127.0.0.1:7070").
	Endpoint string
	// Bucket must exist; the engine never creates it.
	Bucket string
	// Prefix is put before every key to name its object ("blobs/"), so
	// one bucket can hold other things too. May be empty.
	Prefix string
	// AccessKey and SecretKey are the credentials (Signature V4).
	AccessKey, SecretKey string
	// Region is the bucket's region; empty lets the client find out.
	Region string
	// Secure selects HTTPS. Without it, parts are sent with a streaming
	// Signature V4 payload (each 64 KiB chunk signed); with it, the
	// payload is unsigned and TLS protects it.
	Secure bool
	// CAFile, if set, is a PEM file of the root certificates to trust
	// instead of the system's (Secure only).
	CAFile string
}

// Validate reports every problem of c at once, joined.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("s3: "+format, a...)) }
	if err := checkEndpoint(c.Endpoint); err != nil {
		bad("Endpoint %q: %v", c.Endpoint, err)
	}
	if err := s3utils.CheckValidBucketNameStrict(c.Bucket); err != nil {
		bad("Bucket %q: %v", c.Bucket, err)
	}
	if err := checkPrefix(c.Prefix); err != nil {
		bad("Prefix %q: %v", c.Prefix, err)
	}
	if c.AccessKey == "" {
		bad("AccessKey is empty")
	}
	if c.SecretKey == "" {
		bad("SecretKey is empty")
	}
	for _, r := range c.Region {
		if !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-') {
			bad("Region %q: only a-z, 0-9 and '-'", c.Region)
			break
		}
	}
	if c.CAFile != "" {
		if !c.Secure {
			bad("CAFile is set but Secure is not: the roots would not be used")
		}
		if _, err := loadRoots(c.CAFile); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func checkEndpoint(ep string) error {
	if ep == "" {
		return errors.New("empty")
	}
	if strings.Contains(ep, "://") || strings.ContainsAny(ep, "/?#@ \t") {
		return errors.New("give host or host:port, without a scheme or a path (Secure selects https)")
	}
	host := ep
	if h, port, err := net.SplitHostPort(ep); err == nil {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q", port)
		}
		host = h
	} else if strings.Count(ep, ":") > 0 && !strings.HasPrefix(ep, "[") {
		return err
	}
	if host == "" {
		return errors.New("no host")
	}
	return nil
}

// checkPrefix allows S3's safe characters for object names, and no empty
// path segment.
func checkPrefix(p string) error {
	if len(p) > maxPrefix {
		return fmt.Errorf("longer than %d bytes", maxPrefix)
	}
	if strings.HasPrefix(p, "/") || strings.Contains(p, "//") {
		return errors.New("starts with '/' or holds '//'")
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return errors.New("holds a '.' or '..' segment")
		}
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!-_.*'()/", c) >= 0) {
			return fmt.Errorf("character %q: only letters, digits and !-_.*'()/", c)
		}
	}
	return nil
}

// loadRoots reads a PEM file of root certificates.
func loadRoots(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("s3: CAFile: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("s3: CAFile %s: no PEM certificate in it", path)
	}
	return pool, nil
}
