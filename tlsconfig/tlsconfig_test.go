package tlsconfig_test

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealpost/sealpost/tlsconfig"
)

func TestLoadOrCreate(t *testing.T) {
	dir := t.TempDir()
	cert, created, err := tlsconfig.LoadOrCreate(dir, []string{"keys.example.test", "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Error("first call: created = false")
	}
	for _, f := range []string{tlsconfig.CertFile, tlsconfig.KeyFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	leaf := cert.Leaf
	for _, n := range []string{"localhost", "127.0.0.1", "::1", "keys.example.test", "192.0.2.7"} {
		if err := leaf.VerifyHostname(n); err != nil {
			t.Errorf("certificate does not name %s: %v", n, err)
		}
	}
	if err := leaf.VerifyHostname("other.example.test"); err == nil {
		t.Error("certificate names other.example.test")
	}
	fp := tlsconfig.FingerprintOf(cert.Certificate[0])

	// A restart reuses the certificate, even with other names configured.
	again, created, err := tlsconfig.LoadOrCreate(dir, []string{"new.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	if created {
		t.Error("second call: created = true")
	}
	if got := tlsconfig.FingerprintOf(again.Certificate[0]); got != fp {
		t.Errorf("fingerprint changed on reuse: %s then %s", fp, got)
	}
}

func TestLoadOrCreateKeyWithoutCert(t *testing.T) {
	dir := t.TempDir()
	first, _, err := tlsconfig.LoadOrCreate(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, tlsconfig.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, tlsconfig.CertFile)); err != nil {
		t.Fatal(err)
	}
	second, created, err := tlsconfig.LoadOrCreate(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Error("created = false for a new certificate")
	}
	if !second.Leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(first.Leaf.PublicKey) {
		t.Error("new certificate is not for the existing key")
	}
	after, err := os.ReadFile(filepath.Join(dir, tlsconfig.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after, keyPEM) {
		t.Error("key file changed")
	}
}

func TestLoadOrCreateCertWithoutKey(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := tlsconfig.LoadOrCreate(dir, nil); err != nil {
		t.Fatal(err)
	}
	certPath := filepath.Join(dir, tlsconfig.CertFile)
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, tlsconfig.KeyFile)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tlsconfig.LoadOrCreate(dir, nil); err == nil || !strings.Contains(err.Error(), "without its key") {
		t.Fatalf("err = %v, want a certificate-without-key error", err)
	}
	after, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after, certPEM) {
		t.Error("certificate file changed")
	}
	if _, err := os.Stat(filepath.Join(dir, tlsconfig.KeyFile)); err == nil {
		t.Error("a key file appeared")
	}
}

func TestParseFingerprint(t *testing.T) {
	var want tlsconfig.Fingerprint
	for i := range want {
		want[i] = byte(i*7 + 0xa0)
	}
	plain := want.String()
	if len(plain) != 64 || strings.ToLower(plain) != plain {
		t.Fatalf("String() = %q, want 64 lower-case hex digits", plain)
	}
	var colons []string
	for i := 0; i < len(plain); i += 2 {
		colons = append(colons, strings.ToUpper(plain[i:i+2]))
	}
	for _, s := range []string{plain, strings.ToUpper(plain), strings.Join(colons, ":"), "sha256:" + plain, "SHA256=" + strings.Join(colons, ":"), " " + plain + "\n"} {
		got, err := tlsconfig.ParseFingerprint(s)
		if err != nil || got != want {
			t.Errorf("ParseFingerprint(%q) = %s, %v", s, got, err)
		}
	}
	for _, s := range []string{"", plain[:62], plain + "00", "zz" + plain[2:], strings.Join(colons[:31], ":"), strings.Join(colons, ":") + ":", "md5:" + plain, plain[:2] + ":" + plain[2:]} {
		if got, err := tlsconfig.ParseFingerprint(s); err == nil {
			t.Errorf("ParseFingerprint(%q) = %s, want an error", s, got)
		}
	}
}

// serve runs a TLS server with ServerConfig(cert) that writes "ok" on each
// connection.
func serve(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	cfg, err := tlsconfig.ServerConfig(cert)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.Write([]byte("ok"))
			}()
		}
	}()
	return ln.Addr().String()
}

func TestPinnedClient(t *testing.T) {
	cert, _, err := tlsconfig.LoadOrCreate(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, cert)
	pin := tlsconfig.FingerprintOf(cert.Certificate[0])

	c, err := tls.Dial("tcp", addr, tlsconfig.ClientConfig(pin))
	if err != nil {
		t.Fatalf("pinned client refused: %v", err)
	}
	if v := c.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Errorf("version %x, want TLS 1.3", v)
	}
	if b, err := io.ReadAll(c); err != nil || string(b) != "ok" {
		t.Errorf("read %q, %v", b, err)
	}
	c.Close()

	other := pin
	other[0] ^= 1
	if _, err := tls.Dial("tcp", addr, tlsconfig.ClientConfig(other)); !errors.Is(err, tlsconfig.ErrPinMismatch) {
		t.Errorf("client pinned to another fingerprint: err = %v, want ErrPinMismatch", err)
	}

	// The hook itself.
	if err := pin.VerifyPeerCertificate(cert.Certificate, nil); err != nil {
		t.Errorf("VerifyPeerCertificate(right leaf) = %v", err)
	}
	if err := other.VerifyPeerCertificate(cert.Certificate, nil); !errors.Is(err, tlsconfig.ErrPinMismatch) {
		t.Errorf("VerifyPeerCertificate(wrong pin) = %v", err)
	}
	if err := pin.VerifyPeerCertificate(nil, nil); !errors.Is(err, tlsconfig.ErrPinMismatch) {
		t.Errorf("VerifyPeerCertificate(no certificates) = %v", err)
	}
}

func TestTLS12Refused(t *testing.T) {
	cert, _, err := tlsconfig.LoadOrCreate(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, cert)
	cfg := tlsconfig.ClientConfig(tlsconfig.FingerprintOf(cert.Certificate[0]))
	cfg.MinVersion = tls.VersionTLS12
	cfg.MaxVersion = tls.VersionTLS12
	c, err := tls.Dial("tcp", addr, cfg)
	if err == nil {
		c.Close()
		t.Fatal("TLS 1.2 client connected")
	}
	// The server answers with a protocol_version alert.
	if !strings.Contains(err.Error(), "protocol version not supported") {
		t.Errorf("err = %v, want a protocol version alert", err)
	}
}

func TestServerConfigRefusesEmpty(t *testing.T) {
	if _, err := tlsconfig.ServerConfig(tls.Certificate{}); err == nil {
		t.Error("ServerConfig(empty) succeeded")
	}
}

func TestBrowserCheck(t *testing.T) {
	var fp tlsconfig.Fingerprint
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
		ok   bool
	}{
		{"nil", nil, true},
		{"version only", &tls.Config{MinVersion: tls.VersionTLS13}, true},
		{"pinned", tlsconfig.ClientConfig(fp), false},
		{"roots", &tls.Config{RootCAs: x509.NewCertPool()}, false},
		{"server name", &tls.Config{ServerName: "example.org"}, false},
	} {
		err := tlsconfig.BrowserCheck(tc.cfg)
		if tc.ok != (err == nil) {
			t.Errorf("%s: BrowserCheck = %v", tc.name, err)
		}
		if err != nil && (!errors.Is(err, tlsconfig.ErrBrowserTrust) || !errors.Is(err, errors.ErrUnsupported)) {
			t.Errorf("%s: error %v does not wrap ErrBrowserTrust and errors.ErrUnsupported", tc.name, err)
		}
	}
}
