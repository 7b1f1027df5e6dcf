// Package versitygwtest runs a real, independent S3-compatible server for
// tests: versitygw (github.com/versity/versitygw) with its posix backend
// over a temporary directory, as a child process listening on 127.0.0.1,
// with fresh random root credentials and one bucket. It is never replaced
// by an in-process fake: what the blob service's s3 engine is tested
// against is what another S3 implementation answers.
//
// The binary (versitygw at Version) is built once with `go install` into a
// cache directory keyed by the version (Dir), and reused from there;
// .ci/run builds it before the tests (Install). A test that asks for a
// server fails, never skips, when it is missing and cannot be built.
package versitygwtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/sealpost/sealpost/internal/testbin"
)

// Version is the versitygw release the tests run.
const Version = "v1.8.0"

const module = "github.com/versity/versitygw"

// Region is the region the server is started with.
const Region = "us-east-1"

// tool builds the binaries at Version (testbin.Tool).
var tool = testbin.Tool{
	Name: "versitygwtest", Env: "SEALPOST_VERSITYGW_BIN", CacheName: "versitygw-" + Version,
	Packages: []string{module + "/cmd/versitygw@" + Version},
	Binaries: []string{"versitygw"},
}

// Dir returns the directory the binaries are cached in: $SEALPOST_VERSITYGW_BIN if set,
// else <user cache dir>/sealpost/bin/versitygw-<Version>.
func Dir() (string, error) { return tool.Dir() }

// Install builds the binaries at Version into Dir, unless they are already
// there, and returns Dir; concurrent test binaries may call it at once.
func Install() (string, error) { return tool.Install() }

// Server is one running versitygw.
type Server struct {
	// Endpoint is host:port: plain HTTP, or HTTPS if Secure.
	Endpoint string
	// Secure is set by StartTLS; CAFile is then a PEM file of the
	// self-signed certificate the server presents (for 127.0.0.1), the
	// only root that verifies it.
	Secure bool
	CAFile string
	// AccessKey and SecretKey are the root account's credentials.
	AccessKey, SecretKey string
	// Bucket exists, empty, when Start returns.
	Bucket string
	// Root is the posix backend's directory: Root/Bucket holds the
	// objects.
	Root string
	// Started is how long Start took until the bucket existed.
	Started time.Duration

	cmd     *exec.Cmd
	done    chan struct{}
	out     *testbin.SyncBuffer
	stopped bool
}

// Start runs versitygw with the posix backend over a t.TempDir(), on
// plain HTTP, creates a bucket, and stops the server at t.Cleanup. Any
// failure fails the test.
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, false)
}

// StartTLS is Start on HTTPS, with a fresh self-signed certificate
// (Server.CAFile).
func StartTLS(t testing.TB) *Server {
	t.Helper()
	return start(t, true)
}

func start(t testing.TB, secure bool) *Server {
	t.Helper()
	bin, err := Install()
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	s := &Server{
		AccessKey: "AK" + randomHex(t, 9),
		SecretKey: randomHex(t, 20),
		Bucket:    "sealpost-test",
		Root:      t.TempDir(),
		done:      make(chan struct{}),
		out:       &testbin.SyncBuffer{},
	}
	s.Endpoint = testbin.FreeAddr(t)
	args := []string{"--port", s.Endpoint, "--region", Region, "--quiet"}
	client := http.DefaultClient
	scheme := "http://"
	var tr *http.Transport
	if secure {
		dir := t.TempDir()
		certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		roots := selfSigned(t, certFile, keyFile)
		s.Secure, s.CAFile = true, certFile
		args = append(args, "--cert", certFile, "--key", keyFile)
		tr = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
		client = &http.Client{Transport: tr}
		scheme = "https://"
	}
	s.cmd = exec.Command(filepath.Join(bin, "versitygw"), append(args, "posix", s.Root)...)
	// The credentials go in the environment, not on the command line
	// where other users' ps could read them.
	s.cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+s.AccessKey, "ROOT_SECRET_KEY="+s.SecretKey)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("versitygwtest: versitygw: %v", err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	t.Cleanup(s.Stop)
	testbin.WaitReady(t, "versitygwtest", "versitygw on "+s.Endpoint, s.done, s.out, func() bool {
		resp, err := client.Get(scheme + s.Endpoint + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
	opts := &minio.Options{
		Creds:  credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Region: Region,
		Secure: secure,
	}
	if tr != nil {
		opts.Transport = tr
	}
	c, err := minio.New(s.Endpoint, opts)
	if err != nil {
		t.Fatalf("versitygwtest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.MakeBucket(ctx, s.Bucket, minio.MakeBucketOptions{Region: Region}); err != nil {
		t.Fatalf("versitygwtest: creating bucket %s: %v\n%s", s.Bucket, err, s.out.String())
	}
	s.Started = time.Since(begin)
	return s
}

// Stop stops the server (SIGTERM, then SIGKILL after 10 s). Its endpoint
// then refuses connections. Stop is idempotent.
func (s *Server) Stop() {
	if s.stopped || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.stopped = true
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// Log returns what versitygw has written so far.
func (s *Server) Log() string { return s.out.String() }

// selfSigned writes a fresh self-signed ECDSA certificate for 127.0.0.1,
// valid for a day, and its key, as PEM; it returns the certificate as a
// pool of roots.
func selfSigned(t testing.TB, certFile, keyFile string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "versitygwtest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return roots
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
