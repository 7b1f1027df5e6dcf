package tlsconfig

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Files of the self-signed certificate in the data directory, both PEM:
// the certificate ("CERTIFICATE") and its ECDSA P-256 key in PKCS #8
// ("PRIVATE KEY"), the key file mode 0600.
const (
	CertFile = "tls-cert.pem"
	KeyFile  = "tls-key.pem"
)

// SelfSignedValidity is how long a generated certificate is valid. Clients
// pin the certificate rather than check its dates, so it is long.
const SelfSignedValidity = 10 * 365 * 24 * time.Hour

// DefaultNames are the names every self-signed certificate holds besides
// the configured ones.
var DefaultNames = []string{"localhost", "127.0.0.1", "::1"}

// LoadOrCreate returns the self-signed certificate kept in dir, generating
// it on first use (created is then true). The certificate names
// DefaultNames and names: IP addresses as IP SANs, others as DNS SANs.
// An existing certificate is reused as it is, whatever names it holds, so
// its fingerprint stays stable; delete both files to get a new one. A key
// file without a certificate gets a new certificate for that key; a
// certificate without its key is an error. dir must exist.
func LoadOrCreate(dir string, names []string) (cert tls.Certificate, created bool, err error) {
	certPath, keyPath := filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)
	for range 2 {
		cert, created, err = loadOrCreate(certPath, keyPath, names)
		// Another process created a file between our check and our
		// write: load what it wrote.
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	return cert, created, err
}

func loadOrCreate(certPath, keyPath string, names []string) (tls.Certificate, bool, error) {
	certOK, err := exists(certPath)
	if err != nil {
		return tls.Certificate{}, false, err
	}
	keyOK, err := exists(keyPath)
	if err != nil {
		return tls.Certificate{}, false, err
	}
	switch {
	case certOK && keyOK:
		cert, err := tls.LoadX509KeyPair(certPath, keyPath)
		if err != nil {
			return tls.Certificate{}, false, fmt.Errorf("tlsconfig: loading %s and %s: %w", certPath, keyPath, err)
		}
		return cert, false, nil
	case certOK:
		return tls.Certificate{}, false, fmt.Errorf("tlsconfig: %s exists without its key %s; remove it to generate a new certificate", certPath, keyPath)
	}
	var key *ecdsa.PrivateKey
	if keyOK {
		key, err = readKey(keyPath)
		if err != nil {
			return tls.Certificate{}, false, err
		}
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return tls.Certificate{}, false, fmt.Errorf("tlsconfig: generating key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return tls.Certificate{}, false, fmt.Errorf("tlsconfig: encoding key: %w", err)
		}
		if err := writeNewFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
			return tls.Certificate{}, false, err
		}
	}
	der, err := selfSign(key, names, time.Now())
	if err != nil {
		return tls.Certificate{}, false, err
	}
	if err := writeNewFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})); err != nil {
		return tls.Certificate{}, false, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, false, fmt.Errorf("tlsconfig: parsing new certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, true, nil
}

// selfSign returns a DER certificate for key naming DefaultNames and names.
func selfSign(key *ecdsa.PrivateKey, names []string, now time.Time) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("tlsconfig: serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "sealpostd self-signed"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(SelfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, n := range append(slices.Clone(DefaultNames), names...) {
		if ip := net.ParseIP(n); ip != nil {
			if !slices.ContainsFunc(tmpl.IPAddresses, ip.Equal) {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		} else if n != "" && !slices.Contains(tmpl.DNSNames, n) {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("tlsconfig: creating certificate: %w", err)
	}
	return der, nil
}

func readKey(path string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tlsconfig: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("tlsconfig: %s: no PEM PRIVATE KEY block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("tlsconfig: %s: %w", path, err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("tlsconfig: %s: not an ECDSA P-256 key", path)
	}
	return key, nil
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("tlsconfig: %w", err)
	}
	return true, nil
}

// writeNewFile writes data to a new file at path with mode 0600, durably
// and atomically: a temporary file is written and synced, then linked to
// path, which fails with fs.ErrExist rather than replace an existing file.
func writeNewFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("tlsconfig: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("tlsconfig: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("tlsconfig: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("tlsconfig: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("tlsconfig: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("tlsconfig: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("tlsconfig: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("tlsconfig: syncing %s: %w", dir, err)
	}
	return nil
}
