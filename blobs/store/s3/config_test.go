package s3

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func goodConfig() Config {
	return Config{Endpoint: "s3.example.com", Bucket: "sealpost-blobs", Prefix: "blobs/", AccessKey: "AK", SecretKey: "SK", Region: "eu-west-1", Secure: true}
}

// writeCA writes a self-signed certificate as PEM and returns its path.
func writeCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestValidate(t *testing.T) {
	ca := writeCA(t)
	notPEM := filepath.Join(t.TempDir(), "x.pem")
	os.WriteFile(notPEM, []byte("not a certificate"), 0o600)
	tests := []struct {
		name   string
		change func(*Config)
		want   string // "" for valid
	}{
		{"good", func(*Config) {}, ""},
		{"host:port", func(c *Config) { c.Endpoint = "127.0.0.1:7070" }, ""},
		{"IPv6", func(c *Config) { c.Endpoint = "[::1]:9000" }, ""},
		{"no prefix, no region", func(c *Config) { c.Prefix, c.Region = "", "" }, ""},
		{"CA file", func(c *Config) { c.CAFile = ca }, ""},
		{"no endpoint", func(c *Config) { c.Endpoint = "" }, "Endpoint"},
		{"scheme", func(c *Config) { c.Endpoint = "https://s3.example.com" }, "Endpoint"},
		{"path", func(c *Config) { c.Endpoint = "s3.example.com/bucket" }, "Endpoint"},
		{"port 0", func(c *Config) { c.Endpoint = "s3.example.com:0" }, "Endpoint"},
		{"port too big", func(c *Config) { c.Endpoint = "s3.example.com:70000" }, "Endpoint"},
		{"no host", func(c *Config) { c.Endpoint = ":7070" }, "Endpoint"},
		{"bucket", func(c *Config) { c.Bucket = "Bad_Bucket" }, "Bucket"},
		{"no bucket", func(c *Config) { c.Bucket = "" }, "Bucket"},
		{"prefix slash", func(c *Config) { c.Prefix = "/blobs/" }, "Prefix"},
		{"prefix dotdot", func(c *Config) { c.Prefix = "a/../b/" }, "Prefix"},
		{"prefix char", func(c *Config) { c.Prefix = "a b/" }, "Prefix"},
		{"prefix long", func(c *Config) { c.Prefix = strings.Repeat("a", maxPrefix+1) }, "Prefix"},
		{"access key", func(c *Config) { c.AccessKey = "" }, "AccessKey"},
		{"secret key", func(c *Config) { c.SecretKey = "" }, "SecretKey"},
		{"region", func(c *Config) { c.Region = "EU West" }, "Region"},
		{"CA without TLS", func(c *Config) { c.CAFile, c.Secure = ca, false }, "Secure"},
		{"CA missing", func(c *Config) { c.CAFile = filepath.Join(t.TempDir(), "none.pem") }, "CAFile"},
		{"CA not PEM", func(c *Config) { c.CAFile = notPEM }, "no PEM certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := goodConfig()
			tc.change(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate: %v, want an error about %s", err, tc.want)
			}
		})
	}
}

// TestValidateEveryProblem: one call reports all the problems.
func TestValidateEveryProblem(t *testing.T) {
	c := Config{Endpoint: "http://x", Bucket: "B", Prefix: "/", Region: "X", CAFile: filepath.Join(t.TempDir(), "none")}
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate: nil")
	}
	for _, field := range []string{"Endpoint", "Bucket", "Prefix", "AccessKey", "SecretKey", "Region", "Secure", "CAFile"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("no problem about %s in:\n%v", field, err)
		}
	}
}
