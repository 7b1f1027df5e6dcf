package keyfile

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
)

func TestReadEd25519(t *testing.T) {
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	got, err := ReadEd25519(write("ok.pem", "PRIVATE KEY", der))
	if err != nil || !priv.Equal(got) {
		t.Fatalf("round trip: %v", err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	for name, path := range map[string]string{
		"missing":     filepath.Join(dir, "none.pem"),
		"wrong type":  write("cert.pem", "CERTIFICATE", der),
		"not pkcs8":   write("junk.pem", "PRIVATE KEY", []byte("junk")),
		"not ed25519": write("ec.pem", "PRIVATE KEY", ecDER),
	} {
		if k, err := ReadEd25519(path); err == nil || k != nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
