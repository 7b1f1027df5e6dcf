package main

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/relay/relayclient"
	"github.com/sealpost/sealpost/relay/wire"
)

// TestDaemonRelay runs both services: the key server allows tokens for the
// relay's audience, the relay stores and delivers, its database is
// relay.db, and SIGTERM closes relay connections with shutting_down.
func TestDaemonRelay(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	d := start(t, "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
	resp, body := get(t, d.client(), "https://"+d.addr+"/.well-known/sealpost-keyserver")
	var wk struct {
		RelayAudiences []string `json:"relay_audiences"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &wk) != nil || !slices.Equal(wk.RelayAudiences, []string{"relay:localhost", "blobs:localhost"}) {
		t.Errorf("well-known relay audiences: %s %s", resp.Status, body)
	}
	key, err := readKey(filepath.Join(dataDir, tokenKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	alice, bob := relayDevice{"alice", key}, relayDevice{"bob", key}
	cb := dialRelay(t, d, bob)
	ca := dialRelay(t, d, alice)
	ctx := context.Background()
	st, _, err := ca.Send(ctx, [16]byte{1}, []*wire.Item{{Recipient: bob.addr(), Envelope: []byte("hello bob")}})
	if err != nil || st[0] != wire.Status_STATUS_STORED {
		t.Fatalf("send: %v %v", st, err)
	}
	select {
	case dl := <-cb.Deliveries():
		if string(dl.Envelope) != "hello bob" {
			t.Errorf("delivered %q", dl.Envelope)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no delivery")
	}
	if _, err := os.Stat(filepath.Join(dataDir, relaySQLiteFile)); err != nil {
		t.Errorf("relay database: %v", err)
	}
	resp, body = get(t, http.DefaultClient, d.admin+"/metrics")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "sealpost_relay_connections") {
		t.Errorf("/metrics: %s, relay metrics missing", resp.Status)
	}
	d.stop(t)
	for _, c := range []*relayclient.Conn{ca, cb} {
		<-c.Done()
		var re *relayclient.RemoteError
		if !errors.As(c.Err(), &re) || re.Code != wire.ErrorCode_ERROR_CODE_SHUTTING_DOWN {
			t.Errorf("connection ended with %v, want shutting_down", c.Err())
		}
	}
}

// TestDaemonRelayAlone runs the relay without the key server, with the
// key server's token key given as a file or as base64url, and the key
// server alone.
func TestDaemonRelayAlone(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, tokenKeyFile)
	key, err := loadOrCreateKey(keyFile, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	pubFile := filepath.Join(dir, "token-pub.pem")
	if err := os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
	for _, given := range []string{keyFile, pubFile, b64} {
		dataDir := filepath.Join(t.TempDir(), "data")
		d := start(t, "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--services", "relay", "--relay-token-key", given, "--relay-keyserver-url", "off")
		c := d.client()
		if resp, _ := get(t, c, "https://"+d.addr+"/healthz"); resp.StatusCode != http.StatusOK {
			t.Errorf("relay alone: /healthz %s", resp.Status)
		}
		if resp, _ := get(t, c, "https://"+d.addr+"/.well-known/sealpost-keyserver"); resp.StatusCode != http.StatusNotFound {
			t.Errorf("relay alone serves the key server: %s", resp.Status)
		}
		dialRelay(t, d, relayDevice{"carol", key}).Close()
		d.stop(t)
		for _, f := range []string{tokenKeyFile, logKeyFile, sqliteFile} {
			if _, err := os.Stat(filepath.Join(dataDir, f)); err == nil {
				t.Errorf("relay alone created the key server's %s", f)
			}
		}
	}

	dataDir := filepath.Join(t.TempDir(), "data")
	d := start(t, "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--services", "keyserver")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := relayclient.Dial(ctx, "wss://"+d.addr+relayclient.Path, d.client().Transport.(*http.Transport).TLSClientConfig, "x"); err == nil {
		t.Error("key server alone serves the relay")
	}
	d.stop(t)
	if _, err := os.Stat(filepath.Join(dataDir, relaySQLiteFile)); err == nil {
		t.Error("key server alone created relay.db")
	}
}
